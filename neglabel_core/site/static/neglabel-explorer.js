/* The static explorer: every element of class "neglabel-explorer" is drawn with vega-embed from
   the JSON spec in the data block its data-spec attribute names. A file of the book, not an
   inline script: the pages' Content-Security-Policy runs only the book's own files and the
   theme's scripts. Vega's expressions go through vega-interpreter (no eval). */
(function () {
  window.define = window.__neglabel_define;
  document.querySelectorAll(".neglabel-explorer[data-spec]").forEach(function (node) {
    var source = document.getElementById(node.getAttribute("data-spec"));
    if (!source || node.dataset.drawn) return;
    node.dataset.drawn = "1";
    node.textContent = "";
    vegaEmbed(node, JSON.parse(source.textContent),
              {actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter})
      .then(function (result) { window.neglabelExplorer = result.view; })
      .catch(function (err) { console.error("explorer: " + err); });
  });
})();
