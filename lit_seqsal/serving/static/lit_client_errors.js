// Loaded before LIT's own client at /lit/ (lit_seqsal/web_app.py adds it to
// LIT's page). Our server answers every error as JSON
// ({"error": {"message", "request_id", ...}}); LIT's client shows a message
// only when an error body reads "MESSAGE\n\nDetails: ...", and "Unknown error"
// otherwise. This rewrites our JSON errors into that form, so LIT's client
// shows the message and the request id. Everything else passes untouched.
(() => {
  const originalFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const response = await originalFetch(...args);
    const type = response.headers.get('content-type') || '';
    if (response.ok || !type.includes('application/json')) return response;
    let error;
    try {
      error = (await response.clone().json()).error;
    } catch (e) {
      return response;
    }
    if (!error || typeof error.message !== 'string') return response;
    const message = error.message.replace(/\s*\n\s*/g, ' ');
    const text = `${message}\n\nDetails: HTTP ${response.status} (${error.kind}),` +
        ` request id ${error.request_id}`;
    return new Response(text, {status: response.status, statusText: response.statusText});
  };
})();
