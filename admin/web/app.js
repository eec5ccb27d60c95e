// The admin page: a small single-page app over the same /api/v1 JSON API that tokens use. Plain
// DOM code, no framework and no build step, so the binary can embed it as is. Every request
// carries the session's CSRF token; the server checks it (and the Origin) on every change.
'use strict';

const kUserDataLimit = 16384;
const kPageSize = 50;
let csrfToken = '';

// ---- small helpers -------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function view(...children) {
  const main = document.getElementById('view');
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.field = body.field || '';
  }
}

async function api(method, path, body) {
  const headers = {'X-Requested-With': 'fetch'};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign('/login');
    throw new ApiError(401, {error: 'logged out'});
  }
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function banner(kind, text) {
  return el('div', {class: `banner ${kind}`, role: kind === 'bad' ? 'alert' : 'status'}, text);
}

function fmtSeen(seen) {
  if (!seen) return el('span', {class: 'muted'}, 'never');
  const ago = Math.max(0, Math.round((Date.now() - Date.parse(seen.at)) / 1000));
  const when = ago < 60 ? `${ago}s ago` : ago < 3600 ? `${Math.round(ago / 60)} min ago`
      : seen.at.replace('T', ' ').replace('Z', ' UTC');
  return el('span', {title: seen.at}, `${when} from ${seen.address}`);
}

// ---- instances list ------------------------------------------------------------------------

// Cursor paging (GET /api/v1/instances' next_cursor): `pages` holds, for each page before this
// one, the cursor that opened it and how many rows it showed, so Previous steps back and the
// range shown counts the rows before this page.
const listState = {q: '', sort: 'instance_id', order: 'asc', cursor: null, pages: []};

function restartList() {
  listState.cursor = null;
  listState.pages = [];
}

async function showInstances() {
  const search = el('input', {type: 'search', id: 'search', value: listState.q,
                              placeholder: 'Start of an id, ip, hostname or tag value',
                              'aria-label': 'Search'});
  const table = el('div');
  const toolbar = el('div', {class: 'toolbar'}, search,
      el('a', {class: 'button', href: '#/instances/new', id: 'new-instance'}, 'New instance'));
  view(el('h1', {}, 'Instances'), toolbar, table);
  let timer;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { listState.q = search.value; restartList(); load(); }, 250);
  });
  async function load() {
    const params = new URLSearchParams({sort: listState.sort, order: listState.order,
                                        limit: kPageSize});
    if (listState.q) params.set('q', listState.q);
    if (listState.cursor) params.set('cursor', listState.cursor);
    let data;
    try {
      data = await api('GET', `/api/v1/instances?${params}`);
    } catch (e) {
      table.replaceChildren(banner('bad', e.message));
      return;
    }
    const header = (key, label) => el('th', {}, el('button', {class: 'sort', type: 'button',
        onclick: () => {
          if (listState.sort === key) listState.order = listState.order === 'asc' ? 'desc' : 'asc';
          else { listState.sort = key; listState.order = 'asc'; }
          restartList();
          load();
        }}, label + (listState.sort === key ? (listState.order === 'asc' ? ' ▲' : ' ▼') : '')));
    const rows = data.instances.map((r) => el('tr', {'data-id': r.instance_id},
        el('td', {}, el('a', {href: `#/instances/${encodeURIComponent(r.instance_id)}`},
                        r.instance_id)),
        // A DHCP guest's address is learned at its first call (docs/hypervisor.md).
        el('td', {}, r.ip
            ? [r.ip, r.ip_learned ? el('span', {class: 'muted'}, ' (learned)') : '']
            : r.mac ? el('span', {class: 'muted'}, '(not seen yet)') : ''),
        // A stored row the server cannot decode has only its id, address and the reason.
        el('td', {}, r.invalid
            ? el('span', {class: 'invalid', title: r.invalid}, 'cannot be decoded')
            : r.hostname || el('span', {class: 'muted'}, '(derived)')),
        el('td', {}, r.instance_type),
        el('td', {}, Object.entries(r.tags || {}).map(([k, v]) =>
            el('span', {class: 'tag'}, `${k}=${v}`))),
        el('td', {class: 'seen'}, fmtSeen(r.last_seen)),
        el('td', {}, el('a', {href: `#/instances/${encodeURIComponent(r.instance_id)}/sees`},
                        'what it sees'))));
    const before = listState.pages.reduce((n, p) => n + p.count, 0);
    // total is an estimate on a big fleet (or a lower bound for a broad filter), and unknown
    // for invalid=; the range shown says so.
    const of = data.total === null ? ''
        : ` of ${data.total_estimated ? 'about ' : ''}${data.total}`;
    const shown = data.count ? `${before + 1}–${before + data.count}${of}`
        : data.next_cursor ? 'None on this page; more follow.' : 'No instances match.';
    table.replaceChildren(
        el('table', {id: 'instances'},
           el('thead', {}, el('tr', {}, header('instance_id', 'Instance'), header('ip', 'IP'),
                                header('hostname', 'Hostname'), header('instance_type', 'Type'),
                                el('th', {}, 'Tags'), header('last_seen', 'Last seen'),
                                el('th', {}, ''))),
           el('tbody', {}, rows)),
        el('div', {class: 'pager'},
           el('button', {type: 'button', id: 'previous-page',
                         disabled: listState.pages.length === 0,
                         onclick: () => {
                           listState.cursor = listState.pages.pop().cursor;
                           load();
                         }}, 'Previous'),
           el('span', {id: 'page-range'}, shown),
           el('button', {type: 'button', id: 'next-page', disabled: !data.next_cursor,
                         onclick: () => {
                           listState.pages.push({cursor: listState.cursor, count: data.count});
                           listState.cursor = data.next_cursor;
                           load();
                         }}, 'Next')));
  }
  await load();
}

// ---- instance editor -----------------------------------------------------------------------

const kTextFields = [
  ['Identity', ['instance_id', 'ip', 'hostname', 'local_hostname', 'local_ipv4',
                'public_hostname', 'public_ipv4', 'mac']],
  ['Placement and image', ['instance_type', 'region', 'availability_zone',
                           'availability_zone_id', 'account_id', 'architecture', 'ami_id',
                           'ami_manifest_path', 'ami_launch_index', 'reservation_id',
                           'instance_life_cycle', 'instance_action', 'kernel_id', 'ramdisk_id']],
  ['Network', ['interface_id', 'subnet_id', 'subnet_ipv4_cidr_block', 'vpc_id',
               'vpc_ipv4_cidr_block']],
];
const kListFields = ['secondary_ipv4s', 'ipv6s', 'security_groups', 'security_group_ids'];
const kMapFields = ['tags', 'public_keys', 'block_device_mapping'];
const kIamFields = ['role', 'access_key_id', 'secret_access_key', 'token', 'expiration'];

function wrap(field, label, input) {
  return el('label', {'data-field': field}, label, input);
}

function kvEditor(field, entries) {
  const rows = el('div', {class: 'kv-rows'});
  const addRow = (k = '', v = '') => {
    const row = el('div', {class: 'kv-row'},
        el('input', {class: 'k', value: k, placeholder: 'key', 'aria-label': `${field} key`}),
        el('input', {class: 'v', value: v, placeholder: 'value', 'aria-label': `${field} value`}),
        el('button', {type: 'button', onclick: () => row.remove()}, 'Remove'));
    rows.append(row);
  };
  for (const [k, v] of Object.entries(entries || {})) addRow(k, v);
  const box = el('div', {'data-field': field, id: `kv-${field}`}, rows,
      el('button', {type: 'button', onclick: () => addRow()}, `Add ${field.replace(/_/g, ' ')}`));
  box.read = () => {
    const out = {};
    for (const row of rows.children) {
      const k = row.querySelector('.k').value;
      if (k !== '') out[k] = row.querySelector('.v').value;
    }
    return out;
  };
  return box;
}

function byteLength(text) { return new TextEncoder().encode(text).length; }

function userDataEditor(record) {
  const binary = record.user_data === null && record.user_data_base64 !== null;
  const area = el('textarea', {class: 'code', id: 'user_data', spellcheck: 'false',
                               'aria-label': 'user-data', disabled: binary},
                  binary ? '' : (record.user_data || ''));
  const counter = el('span', {id: 'user-data-bytes'});
  const yaml = el('span', {id: 'yaml-status', class: 'muted'});
  let timer;
  const update = () => {
    const n = byteLength(area.value);
    counter.textContent = `${n} / ${kUserDataLimit} bytes`;
    counter.className = n > kUserDataLimit ? 'over' : 'muted';
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  };
  const check = async () => {
    if (binary || !area.value.startsWith('#cloud-config')) {
      yaml.textContent = binary ? '' : 'not cloud-config: no YAML check';
      yaml.className = 'muted';
      return;
    }
    if (byteLength(area.value) > kUserDataLimit) return;
    try {
      const r = await api('POST', '/api/v1/cloud-config/check', {user_data: area.value});
      yaml.textContent = r.valid ? 'cloud-config YAML: OK'
                                 : `YAML error at line ${r.line}, column ${r.column}: ${r.error}`;
      yaml.className = r.valid ? 'ok' : 'error';
    } catch (e) {
      yaml.textContent = e.message;
      yaml.className = 'error';
    }
  };
  area.addEventListener('input', update);
  update();
  const box = el('div', {'data-field': 'user_data'},
      binary ? el('p', {class: 'muted'}, 'This user-data is binary; it is kept as it is.') : null,
      area, el('div', {class: 'toolbar'}, counter, yaml));
  box.read = () => binary ? {user_data_base64: record.user_data_base64}
                          : {user_data: area.value === '' ? null : area.value};
  return box;
}

function clearErrors(form) {
  for (const node of form.querySelectorAll('.field-error')) node.remove();
  for (const node of form.querySelectorAll('.has-error')) node.classList.remove('has-error');
}

// An API error names a field ("tags.Name", "iam.expiration", "user_data"): show it next to the
// closest element that edits it.
function showFieldError(form, field, message) {
  let name = field;
  let target = null;
  while (name && !(target = form.querySelector(`[data-field="${CSS.escape(name)}"]`))) {
    name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
  }
  if (!target) return false;
  target.classList.add('has-error');
  target.append(el('span', {class: 'field-error', role: 'alert'}, message));
  target.scrollIntoView({block: 'center'});
  return true;
}

async function showEditor(id) {
  const isNew = id === null;
  let record = {tags: {}, public_keys: {}, block_device_mapping: {}, iam: {},
                metadata_options: {http_tokens: 'optional', http_endpoint: 'enabled',
                                   instance_metadata_tags: 'disabled',
                                   http_put_response_hop_limit: 1},
                extra: {}, user_data: null, user_data_base64: null};
  if (!isNew) {
    try {
      record = await api('GET', `/api/v1/instances/${encodeURIComponent(id)}`);
    } catch (e) {
      view(banner('bad', e.message));
      return;
    }
  }
  const inputs = {};
  const sections = kTextFields.map(([title, names]) => el('fieldset', {},
      el('legend', {}, title),
      el('div', {class: 'grid'}, names.map((name) => {
        const input = el('input', {name, id: `f-${name}`,
                                   type: name === 'ami_launch_index' ? 'number' : 'text',
                                   value: record[name] ?? '',
                                   readonly: name === 'instance_id' && !isNew,
                                   required: name === 'instance_id'});
        inputs[name] = input;
        return wrap(name, name.replace(/_/g, ' '), input);
      }))));
  const lists = {};
  const listSection = el('fieldset', {}, el('legend', {}, 'Addresses and groups (one per line)'),
      el('div', {class: 'grid'}, kListFields.map((name) => {
        lists[name] = el('textarea', {name, id: `f-${name}`, rows: 3},
                         (record[name] || []).join('\n'));
        return wrap(name, name.replace(/_/g, ' '), lists[name]);
      })));
  const maps = {};
  const mapSections = kMapFields.map((name) => {
    maps[name] = kvEditor(name, record[name]);
    return el('fieldset', {}, el('legend', {}, name.replace(/_/g, ' ')), maps[name]);
  });
  const iam = {};
  const iamSection = el('fieldset', {'data-field': 'iam'}, el('legend', {}, 'IAM credentials'),
      el('div', {class: 'grid'}, kIamFields.map((name) => {
        iam[name] = el('input', {id: `f-iam-${name}`, value: (record.iam || {})[name] || '',
                                 type: name === 'secret_access_key' || name === 'token'
                                     ? 'password' : 'text', autocomplete: 'off'});
        return wrap(`iam.${name}`, name.replace(/_/g, ' '), iam[name]);
      })));
  const mo = record.metadata_options || {};
  const opt = {
    http_tokens: el('select', {id: 'f-http_tokens'},
                    ['optional', 'required'].map((v) => el('option', {value: v,
                        selected: mo.http_tokens === v}, v))),
    http_endpoint: el('input', {type: 'checkbox', id: 'f-http_endpoint',
                                checked: mo.http_endpoint !== 'disabled'}),
    instance_metadata_tags: el('input', {type: 'checkbox', id: 'f-instance_metadata_tags',
                                         checked: mo.instance_metadata_tags === 'enabled'}),
    http_put_response_hop_limit: el('input', {type: 'number', min: 1, max: 64,
        id: 'f-hop', value: mo.http_put_response_hop_limit ?? 1}),
  };
  const optSection = el('fieldset', {'data-field': 'metadata_options'},
      el('legend', {}, 'Metadata options'),
      el('div', {class: 'grid'},
         wrap('metadata_options.http_tokens', 'http tokens (IMDSv2)', opt.http_tokens),
         wrap('metadata_options.http_put_response_hop_limit', 'PUT response hop limit',
              opt.http_put_response_hop_limit),
         el('label', {class: 'inline', 'data-field': 'metadata_options.http_endpoint'},
            opt.http_endpoint, 'metadata endpoint enabled'),
         el('label', {class: 'inline', 'data-field': 'metadata_options.instance_metadata_tags'},
            opt.instance_metadata_tags, 'tags in metadata')));
  const extra = el('textarea', {class: 'code', id: 'f-extra', rows: 6, spellcheck: 'false'},
                   JSON.stringify(record.extra || {}, null, 2));
  const extraSection = el('fieldset', {}, el('legend', {}, 'extra (JSON tree under meta-data/)'),
                          wrap('extra', '', extra));
  const userData = userDataEditor(record);
  const udSection = el('fieldset', {}, el('legend', {}, 'user-data'), userData);

  const status = el('div', {id: 'save-status'});
  const form = el('form', {id: 'instance-form', novalidate: true},
      sections, listSection, mapSections, iamSection, optSection, udSection, extraSection,
      el('div', {class: 'toolbar'},
         el('button', {type: 'submit', class: 'primary', id: 'save'}, isNew ? 'Create' : 'Save'),
         isNew ? null : el('button', {type: 'button', class: 'danger', id: 'delete',
                                      onclick: () => remove()}, 'Delete'),
         isNew ? null : el('a', {class: 'button',
                                 href: `#/instances/${encodeURIComponent(id)}/sees`},
                           'What this instance sees'),
         el('a', {class: 'button', href: '#/instances'}, 'Back to list')));

  const collect = () => {
    const out = {};
    for (const [name, input] of Object.entries(inputs)) {
      out[name] = name === 'ami_launch_index' ? Number(input.value || 0) : input.value.trim();
    }
    // A learned address stays learned while the form leaves it as it was.
    out.ip_learned = Boolean(record.ip_learned) && out.ip === (record.ip || '');
    for (const [name, area] of Object.entries(lists)) {
      out[name] = area.value.split('\n').map((s) => s.trim()).filter((s) => s);
    }
    for (const [name, box] of Object.entries(maps)) out[name] = box.read();
    out.iam = {};
    for (const [name, input] of Object.entries(iam)) out.iam[name] = input.value;
    out.metadata_options = {
      http_tokens: opt.http_tokens.value,
      http_endpoint: opt.http_endpoint.checked ? 'enabled' : 'disabled',
      instance_metadata_tags: opt.instance_metadata_tags.checked ? 'enabled' : 'disabled',
      http_put_response_hop_limit: Number(opt.http_put_response_hop_limit.value),
    };
    try {
      out.extra = JSON.parse(extra.value || '{}');
    } catch (e) {
      throw new ApiError(400, {error: `extra is not valid JSON: ${e.message}`, field: 'extra'});
    }
    Object.assign(out, userData.read());
    // Running or stopped is the hypervisor's to say (cloudmeta libvirt-hook): a save keeps it.
    if (record && record.state) out.state = record.state;
    return out;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.replaceChildren();
    // Nothing on the form is reset on failure: the person fixes the field and saves again.
    try {
      const body = collect();
      const path = isNew ? '/api/v1/instances'
                         : `/api/v1/instances/${encodeURIComponent(id)}`;
      const saved = await api(isNew ? 'POST' : 'PUT', path, body);
      if (isNew) {
        location.hash = `#/instances/${encodeURIComponent(saved.instance_id)}`;
        return;
      }
      status.replaceChildren(banner('good', `Saved at ${saved.updated_at}.`));
    } catch (e) {
      if (!(e.field && showFieldError(form, e.field, e.message))) {
        status.replaceChildren(banner('bad', e.message));
      } else {
        status.replaceChildren(banner('bad', 'Not saved: see the field marked below.'));
      }
    }
  });

  async function remove() {
    if (!confirm(`Delete ${id}? Its VM stops getting metadata at once.`)) return;
    try {
      await api('DELETE', `/api/v1/instances/${encodeURIComponent(id)}`);
      location.hash = '#/instances';
    } catch (e) {
      status.replaceChildren(banner('bad', e.message));
    }
  }

  const stored = record.stored_document;
  view(el('h1', {}, isNew ? 'New instance' : `Instance ${id}`),
       isNew ? null : el('p', {class: 'muted'}, 'Last seen: ', fmtSeen(record.last_seen)),
       record.invalid ? banner('bad', `The stored record cannot be decoded (${record.invalid}). ` +
                                      'Saving this form replaces it; Delete removes it.') : null,
       record.invalid ? el('details', {id: 'stored-document'}, el('summary', {}, 'Stored document'),
           el('pre', {class: 'code'},
              typeof stored === 'string' ? stored : JSON.stringify(stored, null, 2))) : null,
       status, form);
}

// ---- what this instance sees ---------------------------------------------------------------

async function showSees(id) {
  let data;
  try {
    data = await api('GET', `/api/v1/instances/${encodeURIComponent(id)}/rendered`);
  } catch (e) {
    view(banner('bad', e.message));
    return;
  }
  const rows = Object.entries(data.paths).filter(([p]) => p !== 'user-data').map(([path, v]) =>
      el('tr', {}, el('td', {}, el('code', {}, `/latest/${path}`)),
         el('td', {}, el('pre', {}, typeof v === 'string' ? v
                                   : v === null ? '(signed on the guest\'s first request for it)'
                                   : `(base64) ${v.base64}`))));
  view(el('h1', {}, `What ${id} sees`),
       el('p', {class: 'muted'}, `Exactly what the metadata surface serves to ${data.ip}, read ` +
          'from the live snapshot. Read-only.'),
       el('div', {class: 'toolbar'},
          el('a', {class: 'button', href: `#/instances/${encodeURIComponent(id)}`}, 'Edit'),
          el('a', {class: 'button', href: '#/instances'}, 'Back to list')),
       el('h2', {}, 'Identity document'),
       el('pre', {id: 'identity-document'}, data.identity_document || ''),
       el('h2', {}, 'meta-data tree'),
       el('table', {id: 'rendered'}, el('tbody', {}, rows)));
}

// ---- audit log -----------------------------------------------------------------------------

async function showAudit(filters = {}) {
  const inputs = {
    instance_id: el('input', {id: 'audit-instance', placeholder: 'instance id',
                              value: filters.instance_id || ''}),
    actor: el('input', {id: 'audit-actor', placeholder: 'user:NAME or token:NAME',
                        value: filters.actor || ''}),
    since: el('input', {id: 'audit-since', placeholder: 'since 2024-01-31T00:00:00Z',
                        value: filters.since || ''}),
  };
  const results = el('div');
  const pages = [];
  const load = async (beforeId) => {
    const params = new URLSearchParams({limit: kPageSize});
    for (const [k, input] of Object.entries(inputs)) if (input.value) params.set(k, input.value);
    if (beforeId) params.set('before_id', beforeId);
    let data;
    try {
      data = await api('GET', `/api/v1/audit?${params}`);
    } catch (e) {
      results.replaceChildren(banner('bad', e.message));
      return;
    }
    const rows = data.entries.map((e) => el('tr', {},
        el('td', {}, e.at), el('td', {}, e.actor), el('td', {}, e.peer), el('td', {}, e.action),
        el('td', {}, e.instance_id), el('td', {}, (e.fields || []).join(', ')),
        el('td', {}, el('details', {}, el('summary', {}, 'before / after'),
                        el('pre', {}, JSON.stringify({before: e.before, after: e.after}, null, 2))))));
    results.replaceChildren(
        el('table', {id: 'audit'}, el('thead', {}, el('tr', {},
            ['When', 'Who', 'From', 'Action', 'Instance', 'Fields', ''].map((h) => el('th', {}, h)))),
           el('tbody', {}, rows)),
        el('div', {class: 'pager'},
           el('button', {type: 'button', disabled: pages.length === 0,
                         onclick: () => { pages.pop(); load(pages[pages.length - 1]); }},
              'Newer'),
           el('button', {type: 'button', disabled: !data.next_before_id,
                         onclick: () => { pages.push(data.next_before_id);
                                          load(data.next_before_id); }}, 'Older')));
  };
  const form = el('form', {class: 'toolbar', id: 'audit-filter', onsubmit: (ev) => {
    ev.preventDefault();
    pages.length = 0;
    load();
  }}, inputs.instance_id, inputs.actor, inputs.since,
      el('button', {type: 'submit', class: 'primary'}, 'Filter'));
  view(el('h1', {}, 'Audit log'), form, results);
  await load();
}

// ---- users and tokens ----------------------------------------------------------------------

async function showUsers() {
  const status = el('div');
  const list = el('tbody');
  const load = async () => {
    const data = await api('GET', '/api/v1/users');
    list.replaceChildren(...data.users.map((u) => el('tr', {},
        el('td', {}, u.username), el('td', {}, u.email), el('td', {}, u.created_at))));
  };
  const field = (id, label, type = 'text') => wrap(id, label, el('input', {id: `u-${id}`, type}));
  const createForm = el('form', {id: 'user-form'}, el('div', {class: 'grid'},
      field('username', 'username'), field('email', 'email'),
      field('password', 'password', 'password')),
      el('button', {type: 'submit', class: 'primary'}, 'Create superuser'));
  createForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(createForm);
    try {
      await api('POST', '/api/v1/users', {
        username: createForm.querySelector('#u-username').value,
        email: createForm.querySelector('#u-email').value,
        password: createForm.querySelector('#u-password').value});
      createForm.reset();
      status.replaceChildren(banner('good', 'Superuser created.'));
      await load();
    } catch (e) {
      if (!showFieldError(createForm, e.field, e.message)) status.replaceChildren(banner('bad', e.message));
    }
  });
  const pwForm = el('form', {id: 'password-form'}, el('div', {class: 'grid'},
      wrap('password', 'new password for you', el('input', {id: 'pw-new', type: 'password',
                                                            autocomplete: 'new-password'}))),
      el('button', {type: 'submit'}, 'Change my password'));
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(pwForm);
    try {
      const me = await api('GET', '/api/v1/session');
      await api('POST', `/api/v1/users/${encodeURIComponent(me.username)}/password`,
                {password: pwForm.querySelector('#pw-new').value});
      pwForm.reset();
      status.replaceChildren(banner('good', 'Password changed.'));
    } catch (e) {
      if (!showFieldError(pwForm, e.field, e.message)) status.replaceChildren(banner('bad', e.message));
    }
  });
  view(el('h1', {}, 'Superusers'), status,
       el('table', {id: 'users'}, el('thead', {}, el('tr', {},
           el('th', {}, 'Username'), el('th', {}, 'Email'), el('th', {}, 'Created'))), list),
       el('h2', {}, 'New superuser'), createForm, el('h2', {}, 'Your password'), pwForm);
  await load();
}

async function showTokens() {
  const status = el('div');
  const list = el('tbody');
  const load = async () => {
    const data = await api('GET', '/api/v1/tokens');
    list.replaceChildren(...data.tokens.map((t) => el('tr', {},
        el('td', {}, t.name), el('td', {}, el('code', {}, `${t.prefix}…`)),
        el('td', {}, t.created_at), el('td', {}, t.last_used_at || el('span', {class: 'muted'},
                                                                         'never')),
        el('td', {}, el('button', {type: 'button', class: 'danger', onclick: async () => {
          if (!confirm(`Revoke token ${t.name}? Tools using it stop working at once.`)) return;
          try {
            await api('DELETE', `/api/v1/tokens/${encodeURIComponent(t.name)}`);
            await load();
          } catch (e) {
            status.replaceChildren(banner('bad', e.message));
          }
        }}, 'Revoke')))));
  };
  const name = el('input', {id: 't-name', placeholder: 'name, e.g. terraform'});
  const form = el('form', {id: 'token-form', class: 'toolbar'}, wrap('name', '', name),
                  el('button', {type: 'submit', class: 'primary'}, 'Create token'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const t = await api('POST', '/api/v1/tokens', {name: name.value});
      form.reset();
      status.replaceChildren(el('div', {class: 'banner good'},
          el('p', {}, `Token ${t.name} created. Copy it now: it is shown only this once.`),
          el('div', {class: 'secret', id: 'new-token'}, t.token)));
      await load();
    } catch (e) {
      if (!showFieldError(form, e.field, e.message)) status.replaceChildren(banner('bad', e.message));
    }
  });
  view(el('h1', {}, 'API tokens'), status, form,
       el('table', {id: 'tokens'}, el('thead', {}, el('tr', {},
           ['Name', 'Prefix', 'Created', 'Last used', ''].map((h) => el('th', {}, h)))), list));
  await load();
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const section = parts[0] || 'instances';
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === section);
  }
  if (section === 'audit') return showAudit();
  if (section === 'users') return showUsers();
  if (section === 'tokens') return showTokens();
  if (parts[1] === 'new') return showEditor(null);
  if (parts[1] && parts[2] === 'sees') return showSees(parts[1]);
  if (parts[1]) return showEditor(parts[1]);
  return showInstances();
}

document.addEventListener('DOMContentLoaded', async () => {
  const me = await api('GET', '/api/v1/session');
  csrfToken = me.csrf_token || '';
  document.getElementById('who').textContent = me.username || me.principal;
  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/logout', {method: 'POST', credentials: 'same-origin',
                            headers: {'X-CSRF-Token': csrfToken, 'X-Requested-With': 'fetch'}});
    location.assign('/login');
  });
  window.addEventListener('hashchange', route);
  await route();
});
