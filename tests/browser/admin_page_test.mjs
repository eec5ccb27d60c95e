// End-to-end test of the admin page in a real headless Chromium (Debian's package), driven by
// playwright-core: starts the real binary on loopback, then logs in, creates an instance, edits
// its user-data, sees the change served to a client bound to the instance's address, deletes it,
// reads the audit log and pages through a fleet bigger than a page; a wrong password and
// cross-origin (CSRF) attempts are refused.
// Usage: node admin_page_test.mjs /path/to/cloudmeta [screenshot dir]
// Prints "N passed, N failed"; exits non-zero on any failure.
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const binary = process.argv[2] && path.resolve(process.argv[2]);
const shotDir = process.argv[3] || '';
if (!binary) {
  console.error('usage: node admin_page_test.mjs /path/to/cloudmeta [screenshot dir]');
  process.exit(2);
}

const kPassword = 'correct horse battery staple';
const kInstance = 'i-0123456789abcdef0';
const kVmAddress = '127.0.0.5';  // the "VM": a client bound to this loopback address
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cloudmeta-browser-'));
const env = {...process.env, DATABASE_URL: `sqlite://${tmp}/cloudmeta.db`, PORT: '0',
             ADMIN_PORT: '0', BIND: '127.0.0.1', ADMIN_BIND: '127.0.0.1', LOG_FORMAT: 'text',
             SECRET_KEY: 'browser-test-secret-key-0123456789abcdef',
             CLOUDMETA_SUPERUSER_PASSWORD: kPassword};

let lastPage = null;  // for the failure report
let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok: ${name}`);
  } else {
    failed++;
    console.log(`FAILED: ${name} ${detail}`);
  }
}

function cli(...args) {
  const r = spawnSync(binary, args, {env, cwd: tmp, encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`cloudmeta ${args.join(' ')}: ${r.error || r.stderr}`);
}

function startServer() {
  const server = spawn(binary, ['serve'], {env, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe']});
  const ports = {};
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 20000);
    const onData = (chunk) => {
      log += chunk;
      for (const m of log.matchAll(/event=listening surface=(\w+).* port=(\d+)/g)) {
        ports[m[1]] = Number(m[2]);
      }
      if (ports.metadata && ports.admin) {
        clearTimeout(timer);
        resolve({server, ports});
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`server exited ${code}:\n${log}`)));
  });
}

// A metadata request from the VM's address, as cloud-init would make it (IMDSv1 GET).
function fromVm(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port, path: urlPath, localAddress: kVmAddress},
                         (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({status: res.statusCode, body}));
    });
    req.on('error', reject);
  });
}

// Another site, for the CSRF attempt: its page posts to the admin API from a different origin.
function startEvilSite(adminUrl) {
  const page = `<!doctype html><html><body><form id="f" method="post"
      action="${adminUrl}/api/v1/tokens" enctype="text/plain">
      <input name='{"name":"evil","x":"' value='"}'></form>
      <script>document.getElementById('f').submit();</script></body></html>`;
  const site = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(page);
  });
  return new Promise((resolve) => site.listen(0, '127.0.0.2', () => resolve(site)));
}

// An OpenSSH ed25519 public key blob: string "ssh-ed25519", then string(32 key bytes).
function ed25519Blob() {
  const name = Buffer.from('ssh-ed25519');
  const length = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  return Buffer.concat([length(name.length), name, length(32), Buffer.alloc(32, 7)])
      .toString('base64');
}

// The page routes by location.hash, which fires no load event.
async function waitHash(page, hash) {
  await page.waitForFunction((h) => location.hash === h, hash);
}

async function shot(page, name) {
  if (!shotDir) return;
  fs.mkdirSync(shotDir, {recursive: true});
  await page.screenshot({path: path.join(shotDir, `${name}.png`), fullPage: false});
}

async function main() {
  cli('migrate');
  cli('createsuperuser', '--username', 'admin', '--email', 'admin@example.com', '--noinput');
  const {server, ports} = await startServer();
  const admin = `http://127.0.0.1:${ports.admin}`;
  // A fresh profile (--user-data-dir, which playwright takes as this argument) per run.
  const context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: {width: 1280, height: 860},
  });
  const evil = await startEvilSite(admin);
  try {
    const page = context.pages()[0] || await context.newPage();
    lastPage = page;
    page.on('dialog', (d) => d.accept());

    // Without a session the page sends the browser to the login form.
    await page.goto(`${admin}/`);
    check('anonymous visit lands on /login', page.url() === `${admin}/login`, page.url());
    const headers = (await page.request.get(`${admin}/login`)).headers();
    check('login page has a CSP without inline script',
          /script-src 'self'/.test(headers['content-security-policy'] || '') &&
          !/unsafe-inline/.test(headers['content-security-policy']));
    check('login page has X-Frame-Options DENY', headers['x-frame-options'] === 'DENY');
    check('login page has nosniff and no-referrer',
          headers['x-content-type-options'] === 'nosniff' &&
          headers['referrer-policy'] === 'no-referrer');

    // A wrong password.
    await page.fill('#username', 'admin');
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    await page.waitForSelector('#login-error:not([hidden])');
    check('wrong password is refused',
          (await page.textContent('#login-error')).includes('Wrong username or password'));
    check('wrong password leaves no session',
          (await context.cookies()).every((c) => c.name !== 'cloudmeta_session'));
    await shot(page, 'login');

    // Log in.
    await page.fill('#password', kPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(`${admin}/`);
    await page.waitForSelector('#instances');
    const cookie = (await context.cookies()).find((c) => c.name === 'cloudmeta_session');
    check('session cookie is HttpOnly and SameSite=Strict',
          cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/');
    check('the page shows who is logged in', (await page.textContent('#who')) === 'admin');

    // Create an instance; a bad field is reported next to it and nothing typed is lost.
    await page.click('#new-instance');
    await page.waitForSelector('#instance-form');
    await page.fill('#f-instance_id', kInstance);
    await page.fill('#f-ip', 'not-an-address');
    await page.fill('#f-hostname', 'web-1');
    await page.fill('#f-instance_type', 't3.micro');
    await page.click('#kv-tags button:has-text("Add tags")');
    await page.fill('#kv-tags .k', 'Name');
    await page.fill('#kv-tags .v', 'web one');
    await page.click('#kv-public_keys button:has-text("Add public keys")');
    await page.fill('#kv-public_keys .k', 'deploy');
    await page.fill('#kv-public_keys .v', `ssh-ed25519 ${ed25519Blob()} deploy@host`);
    await page.fill('#user_data', '#cloud-config\nhostname: web-1\n');
    await page.click('#save');
    await page.waitForSelector('[data-field="ip"] .field-error');
    check('an API error is shown next to its field',
          (await page.textContent('[data-field="ip"] .field-error')).length > 0);
    check('a failed save loses nothing',
          (await page.inputValue('#f-hostname')) === 'web-1' &&
          (await page.inputValue('#user_data')) === '#cloud-config\nhostname: web-1\n');
    await page.fill('#f-ip', kVmAddress);
    await page.click('#save');
    await waitHash(page, `#/instances/${kInstance}`);
    await page.waitForSelector('#f-instance_id[readonly]');
    check('the instance was created', (await page.inputValue('#f-ip')) === kVmAddress);

    // Edit user-data: the counter and the YAML check follow the editor.
    await page.fill('#user_data', '#cloud-config\npackages: [nginx\n');
    await page.waitForSelector('#yaml-status.error');
    check('a cloud-config YAML error is reported',
          /line \d+/.test(await page.textContent('#yaml-status')));
    const userData = '#cloud-config\npackages:\n  - nginx\nruncmd:\n  - echo edited in the browser\n';
    await page.fill('#user_data', userData);
    await page.waitForSelector('#yaml-status.ok');
    check('the byte counter counts bytes',
          (await page.textContent('#user-data-bytes')) === `${Buffer.byteLength(userData)} / 16384 bytes`);
    await shot(page, 'instance-edit');
    await page.click('#save');
    await page.waitForSelector('#save-status .banner.good');

    // The VM sees the change at once on the metadata surface.
    const served = await fromVm(ports.metadata, '/latest/user-data');
    check('the metadata surface serves the edited user-data',
          served.status === 200 && served.body === userData, JSON.stringify(served));
    const hostname = await fromVm(ports.metadata, '/latest/meta-data/hostname');
    check('the metadata surface serves the hostname', hostname.body === 'web-1', hostname.body);

    // The list shows when and from where the instance last fetched metadata.
    await page.goto(`${admin}/#/instances`);
    await page.waitForSelector(`#instances tr[data-id="${kInstance}"]`);
    check('the list shows last seen with the address',
          (await page.textContent(`tr[data-id="${kInstance}"] .seen`)).includes(kVmAddress));
    await page.fill('#search', 'web one');
    await page.waitForTimeout(600);
    check('search by tag finds the instance',
          (await page.locator('#instances tbody tr').count()) === 1);
    await page.fill('#search', 'no-such-thing');
    await page.waitForSelector('text=No instances match.');
    check('search with no match shows none', true);
    await page.fill('#search', '');
    await page.waitForSelector(`#instances tr[data-id="${kInstance}"]`);
    await shot(page, 'instances');

    // What this instance sees.
    await page.goto(`${admin}/#/instances/${kInstance}/sees`);
    await page.waitForSelector('#identity-document');
    const doc = JSON.parse(await page.textContent('#identity-document'));
    check('the identity document is the served one',
          doc.instanceId === kInstance && doc.privateIp === kVmAddress);
    await shot(page, 'instance-sees');

    // CSRF: another origin's form post reaches the API without the SameSite cookie...
    const evilUrl = `http://127.0.0.2:${evil.address().port}/`;
    const evilPage = await context.newPage();
    await evilPage.goto(evilUrl);
    await evilPage.waitForLoadState('networkidle');
    await evilPage.close();
    // ...and even a request that carries the cookie is refused without the same origin and the
    // CSRF token.
    const withCookie = page.request;
    const crossOrigin = await withCookie.post(`${admin}/api/v1/tokens`, {
      headers: {Origin: 'http://127.0.0.2:9', 'Content-Type': 'application/json'},
      data: {name: 'evil2'}});
    check('a cross-origin request with the cookie is refused (403)', crossOrigin.status() === 403,
          String(crossOrigin.status()));
    const noToken = await withCookie.post(`${admin}/api/v1/tokens`, {
      headers: {Origin: admin, 'Content-Type': 'application/json'}, data: {name: 'evil3'}});
    check('a same-origin request without the CSRF token is refused (403)',
          noToken.status() === 403, String(noToken.status()));
    const tokens = await page.evaluate(async () =>
      (await (await fetch('/api/v1/tokens')).json()).tokens.map((t) => t.name));
    check('no CSRF attempt created a token', tokens.length === 0, JSON.stringify(tokens));

    // API tokens: shown once.
    await page.goto(`${admin}/#/tokens`);
    await page.fill('#t-name', 'terraform');
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#new-token');
    check('a new token is shown once', (await page.textContent('#new-token')).startsWith('cm_'));
    await shot(page, 'tokens');

    // Delete the instance; the VM gets 404s from then on.
    await page.goto(`${admin}/#/instances/${kInstance}`);
    await page.waitForSelector('#delete');
    await page.click('#delete');
    await waitHash(page, '#/instances');
    await page.waitForSelector('text=No instances match.');
    check('the instance is gone from the list', true);
    const gone = await fromVm(ports.metadata, '/latest/meta-data/hostname');
    check('the metadata surface no longer knows the VM', gone.status === 404, String(gone.status));

    // The audit log has every change, with secrets redacted.
    await page.goto(`${admin}/#/audit`);
    await page.waitForSelector('#audit tbody tr');
    const actions = await page.locator('#audit tbody tr td:nth-child(4)').allTextContents();
    check('the audit log lists create, update, delete',
          ['instance.create', 'instance.update', 'instance.delete', 'token.create']
              .every((a) => actions.includes(a)), JSON.stringify(actions));
    const who = await page.locator('#audit tbody tr td:nth-child(2)').allTextContents();
    // Two entries come from elsewhere: createsuperuser (the command line, before the page) and
    // the wrong password at the start (nobody signed in). Every other entry is the user's.
    const byWhom = actions.map((action, i) => [action, who[i]]);
    const elsewhere = ([a, w]) => (a === 'user.create' && w.startsWith('cli:')) ||
                                  (a === 'login.failed' && w === 'anonymous');
    check('createsuperuser and the wrong password are audited too',
          byWhom.filter(elsewhere).length === 2, JSON.stringify(byWhom));
    check('audit entries name the user',
          byWhom.every((entry) => elsewhere(entry) || entry[1] === 'user:admin'),
          JSON.stringify(byWhom));
    await page.fill('#audit-instance', kInstance);
    await page.click('#audit-filter button[type=submit]');
    await page.waitForTimeout(300);
    const filtered = await page.locator('#audit tbody tr td:nth-child(4)').allTextContents();
    check('the audit log filters by instance', filtered.length === 3, JSON.stringify(filtered));
    await shot(page, 'audit');

    // More instances than a page holds: Next and Previous follow the API's cursors.
    const seeded = [];
    for (let i = 0; i < 61; i++) {
      seeded.push(JSON.stringify({instance_id: `i-${(0x10000000 + i).toString(16)}`,
                                  ip: `10.77.0.${i + 1}`, hostname: `paged-${i}`}));
    }
    fs.writeFileSync(path.join(tmp, 'paged.jsonl'), seeded.join('\n') + '\n');
    cli('import', '--input', path.join(tmp, 'paged.jsonl'));
    await page.goto(`${admin}/#/instances`);
    await page.waitForSelector('text=1–50 of 61');
    const firstPage = await page.locator('#instances tbody tr').evaluateAll(
        (rows) => rows.map((r) => r.dataset.id));
    await page.click('#next-page');
    await page.waitForSelector('text=51–61 of 61');
    const secondPage = await page.locator('#instances tbody tr').evaluateAll(
        (rows) => rows.map((r) => r.dataset.id));
    check('Next shows the rest, each instance once',
          firstPage.length === 50 && secondPage.length === 11 &&
          new Set([...firstPage, ...secondPage]).size === 61,
          JSON.stringify([firstPage.length, secondPage.length]));
    check('the last page has no Next', await page.isDisabled('#next-page'));
    await page.click('#previous-page');
    await page.waitForSelector('text=1–50 of 61');
    const again = await page.locator('#instances tbody tr').evaluateAll(
        (rows) => rows.map((r) => r.dataset.id));
    check('Previous shows the first page again', JSON.stringify(again) === JSON.stringify(firstPage));

    // Logout ends the session on the server: the old cookie no longer works.
    await page.click('#logout');
    await page.waitForURL(`${admin}/login`);
    const replay = await fetch(`${admin}/api/v1/instances`, {
      headers: {Cookie: `cloudmeta_session=${cookie.value}`}});
    check('a logged-out session cookie is refused', replay.status === 401, String(replay.status));
  } catch (e) {
    console.log(`page at failure: ${lastPage.url()}\n${await lastPage.innerText('body')}`);
    throw e;
  } finally {
    await context.close();
    evil.close();
    server.kill('SIGTERM');
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAILED: ${e.stack || e}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
