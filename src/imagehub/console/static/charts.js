// plotly.js is large (about 5 MB): load it the first time a chart is drawn, from the hub itself.
let loading = null;

export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/console/assets/vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("Could not load the chart library from the hub."));
      document.head.append(script);
    });
  }
  return loading;
}
