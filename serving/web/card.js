// The model card's form: one row by feature name, posted as the function's own JSON format.
"use strict";
(function () {
  const form = document.getElementById("try");
  const target = window.location.origin + window.location.pathname;
  const withProbabilities = form.dataset.probabilities === "true";

  function value(control) {
    const raw = control.value;
    const nullable = control.dataset.nullable === "true";
    if (raw === "" && nullable) return null;
    switch (control.dataset.type) {
      case "boolean": return raw === "true";
      case "string": return raw;
      default: return raw === "" ? raw : Number(raw);
    }
  }

  function body() {
    // Object.fromEntries defines each name as an own property: `row[name] = ...` on a plain
    // object would set the prototype for "__proto__" instead, and JSON would leave it out.
    const controls = Array.from(form.querySelectorAll("[data-type]"));
    const row = Object.fromEntries(controls.map((control) => [control.name, value(control)]));
    const request = { instances: [row] };
    if (withProbabilities) request.probabilities = true;
    return JSON.stringify(request);
  }

  function showCurl() {
    const quoted = "'" + body().replace(/'/g, "'\\''") + "'";
    document.getElementById("curl").textContent =
      "curl -X POST '" + target.replace(/'/g, "'\\''") + "' \\\n" +
      "  -H 'Content-Type: application/json' \\\n  -d " + quoted;
  }

  function showAnswer(status, answer) {
    const prediction = document.getElementById("prediction");
    const table = document.getElementById("probabilities");
    table.replaceChildren();
    document.getElementById("answer").textContent = JSON.stringify(answer);
    if (status !== 200) {
      prediction.className = "prediction error";
      prediction.textContent = "Error " + status + ": " + (answer.error || "unexpected answer");
      return;
    }
    prediction.className = "prediction";
    prediction.textContent = "Prediction: " + JSON.stringify(answer.predictions[0]);
    if (!answer.probabilities) return;
    answer.classes.forEach(function (label, i) {
      const tr = table.insertRow();
      tr.insertCell().textContent = JSON.stringify(label);
      tr.insertCell().textContent = answer.probabilities[0][i].toFixed(4);
    });
  }

  form.addEventListener("input", showCurl);
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      const response = await fetch(target, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: body(),
      });
      let answer;
      try { answer = await response.json(); } catch (e) { answer = { error: "not JSON" }; }
      showAnswer(response.status, answer);
    } catch (error) {
      showAnswer(0, { error: String(error) });
    } finally {
      button.disabled = false;
    }
  });
  showCurl();
})();
