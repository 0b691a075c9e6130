/* RequireJS, where a page has it, is hidden while the vendored Vega scripts load, so that they
   define globals; neglabel-explorer.js puts it back. */
window.__neglabel_define = window.define;
window.define = undefined;
