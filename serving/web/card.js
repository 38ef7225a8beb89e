// The model card's form: one row by feature name, posted as the function's own JSON format.
"use strict";
(function () {
  const form = document.getElementById("try");
  const target = window.location.origin + window.location.pathname;
  const withProbabilities = form.dataset.probabilities === "true";
  const withExplanation = form.dataset.explain === "true";
  const SVG = "http://www.w3.org/2000/svg";
  const BARS_SHOWN = 12;

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
    if (withExplanation) request.explain = true;
    return JSON.stringify(request);
  }

  function showCurl() {
    const quoted = "'" + body().replace(/'/g, "'\\''") + "'";
    document.getElementById("curl").textContent =
      "curl -X POST '" + target.replace(/'/g, "'\\''") + "' \\\n" +
      "  -H 'Content-Type: application/json' \\\n  -d " + quoted;
  }

  // The chosen output's contributions for the row: one output, or the predicted class's.
  function explained(answer) {
    const explanation = answer.explanations;
    const row = explanation.rows[0];
    if (typeof row.base_value === "number") {
      const of = explanation.class !== undefined ? " of class " + JSON.stringify(explanation.class) : "";
      return { title: explanation.output + of, base: row.base_value, parts: row.contributions };
    }
    const classes = explanation.classes.map(String);
    const predicted = String(answer.predictions[0]);
    const label = classes.includes(predicted) ? predicted : classes[0];
    return {
      title: explanation.output + " of class " + JSON.stringify(label),
      base: row.base_value[label],
      parts: row.contributions[label],
    };
  }

  function svg(name, attributes, text) {
    const element = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([key, value]) => element.setAttribute(key, value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // A bar per feature (the largest first, the rest summed), drawn from a zero line.
  function showExplanation(answer) {
    const holder = document.getElementById("explanation");
    holder.replaceChildren();
    if (!answer.explanations) return;
    const chosen = explained(answer);
    const sorted = Object.entries(chosen.parts).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const bars = sorted.slice(0, BARS_SHOWN);
    if (sorted.length > BARS_SHOWN) {
      const rest = sorted.slice(BARS_SHOWN).reduce((sum, [, value]) => sum + value, 0);
      bars.push([(sorted.length - BARS_SHOWN) + " other features", rest]);
    }
    const total = sorted.reduce((sum, [, value]) => sum + value, chosen.base);
    const caption = document.createElement("p");
    caption.id = "explanation-caption";
    caption.textContent = "Why: each feature's contribution to the " + chosen.title +
      " (base value " + chosen.base.toPrecision(4) + " + contributions = " + total.toPrecision(4) + ")";
    const width = 640, label = 220, row = 22, scale = Math.max(...bars.map(([, v]) => Math.abs(v)), 1e-12);
    const half = (width - label - 80) / 2, zero = label + half + 40;
    const chart = svg("svg", {
      id: "explanation-chart", width: width, height: row * bars.length + 10,
      viewBox: "0 0 " + width + " " + (row * bars.length + 10), role: "img",
      "aria-label": "contributions to the " + chosen.title,
    });
    chart.appendChild(svg("line", { x1: zero, x2: zero, y1: 0, y2: row * bars.length + 10, class: "axis" }));
    bars.forEach(([name, value], i) => {
      const length = Math.abs(value) / scale * half;
      const y = 5 + i * row;
      const bar = svg("rect", {
        x: value < 0 ? zero - length : zero, y: y + 3, width: Math.max(length, 0.5), height: row - 6,
        class: value < 0 ? "bar negative" : "bar positive", "data-feature": name, "data-value": value,
      });
      bar.appendChild(svg("title", {}, name + ": " + value));
      chart.appendChild(bar);
      chart.appendChild(svg("text", { x: label - 6, y: y + row / 2 + 4, class: "name" }, name));
      const at = value < 0 ? zero - length - 4 : zero + length + 4;
      chart.appendChild(svg("text", { x: at, y: y + row / 2 + 4, class: value < 0 ? "value left" : "value" },
        value.toPrecision(3)));
    });
    holder.append(caption, chart);
  }

  function showAnswer(status, answer) {
    const prediction = document.getElementById("prediction");
    const table = document.getElementById("probabilities");
    table.replaceChildren();
    document.getElementById("explanation").replaceChildren();
    document.getElementById("answer").textContent = JSON.stringify(answer);
    if (status !== 200) {
      prediction.className = "prediction error";
      prediction.textContent = "Error " + status + ": " + (answer.error || "unexpected answer");
      return;
    }
    prediction.className = "prediction";
    prediction.textContent = "Prediction: " + JSON.stringify(answer.predictions[0]);
    showExplanation(answer);
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
