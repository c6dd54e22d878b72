"use strict";
// The page of `dfcvae explore`: plain JavaScript, no library, nothing from another server.

const $ = (id) => document.getElementById(id);
const state = { input: null, other: null, alpha: 0, method: "lerp", strengths: {} };
let info = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

async function post(url, body, type) {
  const response = await fetch(url, { method: "POST", body, headers: { "Content-Type": type } });
  let value;
  try {
    value = await response.json();
  } catch {
    value = {};
  }
  if (!response.ok) throw new Error(value.error || `the server answered ${response.status}`);
  return value;
}

// One request in flight per channel. Changes made meanwhile (a slider being dragged) wait as
// one pending state, the latest, so the server decodes only what the page will still show,
// and never a state it has just drawn.
class Channel {
  constructor(url, show) {
    this.url = url;
    this.show = show;
    this.busy = false;
    this.next = null;
    this.last = null;
  }

  request(value) {
    this.next = JSON.stringify(value);
    this.pump();
  }

  async pump() {
    if (this.busy || this.next === null) return;
    const body = this.next;
    this.next = null;
    if (body === this.last) return;
    this.busy = true;
    try {
      this.show(await post(this.url, body, "application/json"));
      this.last = body;
      clearError();
    } catch (error) {
      showError(error.message);
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}

function figures(container, names, suffix) {
  container.replaceChildren();
  for (const name of names) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = `${name} ${suffix}`;
    const caption = document.createElement("figcaption");
    const link = document.createElement("a");
    link.textContent = "PNG";
    link.className = "download";
    link.download = `${name.replaceAll("/", "-")}-${suffix}.png`;
    caption.append(name, " ", link);
    figure.append(img, caption);
    container.append(figure);
  }
}

function showImages(container, counter, msLabel) {
  return (reply) => {
    const figs = container.querySelectorAll("figure");
    reply.images.forEach((item, index) => {
      figs[index].querySelector("img").src = item.png;
      figs[index].querySelector("a").href = item.png;
    });
    msLabel.textContent = `${reply.ms.toFixed(0)} ms on the server`;
    document.body.dataset[counter] = String(Number(document.body.dataset[counter] || 0) + 1);
  };
}

const views = new Channel("/api/render", (reply) =>
  showImages($("outputs"), "renders", $("render-ms"))(reply),
);
const samples = new Channel("/api/samples", (reply) =>
  showImages($("samples"), "samples", $("samples-ms"))(reply),
);

function render() {
  if (state.input === null) return;
  views.request(state);
}

function drawSamples() {
  const seed = Math.max(0, Math.floor(Number($("seed").value) || 0));
  const sampler = $("sampler").value;
  samples.request({ temperature: Number($("temperature").value), seed, n: 8, sampler });
}

function slot() {
  return document.querySelector('input[name="slot"]:checked').value;
}

function choose(which, key, src) {
  state[which] = key;
  $(which === "input" ? "input-a" : "input-b").src = src;
  $("alpha").disabled = state.other === null;
  render();
}

function buildAttributes(names) {
  const box = $("attributes");
  box.replaceChildren();
  if (names.length === 0) {
    box.textContent = "no attributes: the data set of these runs has no labels";
    return;
  }
  for (const name of names) {
    const row = document.createElement("div");
    row.className = "control";
    const label = document.createElement("label");
    label.textContent = name;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: -3, max: 3, step: 0.1, value: 0 });
    slider.dataset.attribute = name;
    slider.setAttribute("aria-label", name);
    const value = document.createElement("output");
    value.textContent = "0.0";
    slider.addEventListener("input", () => {
      state.strengths[name] = Number(slider.value);
      value.textContent = Number(slider.value).toFixed(1);
      render();
    });
    label.htmlFor = slider.id = `attribute-${names.indexOf(name)}`;
    row.append(label, slider, value);
    box.append(row);
  }
}

async function start() {
  try {
    const response = await fetch("/api/info");
    info = await response.json();
  } catch (error) {
    showError(`cannot reach the server: ${error.message}`);
    return;
  }
  const names = info.runs.map((run) => run.name);
  $("runs-line").textContent = info.runs
    .map((run) => `${run.name} (${run.dataset} ${run.image_size}px, ${run.latent_dim}-d code)`)
    .join(" · ");
  figures($("outputs"), names, "view");
  figures($("samples"), names, "samples");
  $("sampler").value = info.default_sampler; // the server's DEFAULT_SAMPLER
  buildAttributes(info.attributes);
  for (const index of info.thumbnails) {
    const img = document.createElement("img");
    img.src = `${info.thumbnail_path}${index}.png`;
    img.alt = `test image ${index}`;
    img.title = `test image ${index}`;
    img.tabIndex = 0;
    img.addEventListener("click", () => choose(slot(), `test/${index}`, img.src));
    $("thumbnails").append(img);
  }
  $("upload").addEventListener("change", async () => {
    const file = $("upload").files[0];
    if (!file) return;
    const which = slot();
    try {
      if (file.size > info.max_bytes) {
        throw new Error(`${file.size} bytes; the limit is ${info.max_bytes}`);
      }
      // Always the file's bytes as such: the server takes no other type for an upload (a
      // text/plain body could come from any web page), and checks the format itself.
      const reply = await post("/api/upload", file, "application/octet-stream");
      clearError();
      choose(which, reply.input, reply.image);
    } catch (error) {
      showError(`${file.name}: ${error.message}`);
    }
    $("upload").value = "";
  });
  $("alpha").addEventListener("input", () => {
    state.alpha = Number($("alpha").value);
    $("alpha-value").textContent = state.alpha.toFixed(2);
    render();
  });
  $("method").addEventListener("change", () => {
    state.method = $("method").value;
    render();
  });
  $("reset").addEventListener("click", () => {
    state.strengths = {};
    for (const slider of $("attributes").querySelectorAll("input")) slider.value = 0;
    for (const value of $("attributes").querySelectorAll("output")) value.textContent = "0.0";
    render();
  });
  $("temperature").addEventListener("input", () => {
    $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
    drawSamples();
  });
  $("seed").addEventListener("change", drawSamples);
  $("sampler").addEventListener("change", drawSamples);
  $("new-samples").addEventListener("click", () => {
    $("seed").value = String(Math.floor(Number($("seed").value) || 0) + 1);
    drawSamples();
  });
  if (info.thumbnails.length > 0) choose("input", "test/0", `${info.thumbnail_path}0.png`);
  drawSamples();
}

start();
