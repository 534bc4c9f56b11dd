// data/neurons.js: the type list of data/neurons.json, for pages opened
// from file:// where fetch() of the JSON is refused. Written by quickpage
// at {{generated_at}} ({{type_count}} types); do not edit.
(function () {
  const neuronData = {{data_json}};
  if (typeof window === 'undefined') return;
  if (typeof window.neuronDataCallback === 'function')
    window.neuronDataCallback(neuronData);
  else
    window.NEURON_DATA_FALLBACK = neuronData;
})();
