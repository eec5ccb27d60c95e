// The login form: posts JSON so that errors show in place; without JavaScript the form posts
// itself (form-encoded) and the server answers with a redirect.
'use strict';

const kMessages = {
  credentials: 'Wrong username or password.',
  throttled: 'Too many failed logins. Wait a few minutes and try again.',
  origin: 'The login was refused because it came from another site.',
  busy: 'Too many logins at once. Try again in a moment.',
};

function showError(text) {
  const box = document.getElementById('login-error');
  box.textContent = text;
  box.hidden = false;
}

document.addEventListener('DOMContentLoaded', () => {
  const code = new URLSearchParams(location.search).get('error');
  if (code) showError(kMessages[code] || 'Login failed.');
  document.getElementById('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      username: document.getElementById('username').value,
      password: document.getElementById('password').value,
    };
    let response;
    try {
      response = await fetch('/login', {
        method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-Requested-With': 'fetch'},
        body: JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch (e) {
      showError('The server cannot be reached.');
      return;
    }
    if (response.ok) {
      location.assign('/');
      return;
    }
    if (response.status === 429) showError(kMessages.throttled);
    else if (response.status === 401) showError(kMessages.credentials);
    else showError((await response.json().catch(() => ({}))).error || 'Login failed.');
  });
});
