// The audition page's controls: overview, region, transport, faders, A/B, preview, save. The audio graph
// itself lives in graph.js; the server computes peaks, DBR, loudness and the preset's render.
import {
  FADER_FLOOR_DB, FADER_TOP_DB, buildGraph, dbToGain, momentaryLufs, rampTo, sourceLevels, switchBus,
  timecodeLabel,
} from "/graph.js";

const TOKEN_KEY = "tuss-fx-token";
const TOKEN = tokenFromAddress() || sessionStorage.getItem(TOKEN_KEY) || "";
const $ = (selector) => document.querySelector(selector);
const state = {
  overview: null, rate: 48000, region: null, selection: null, buffers: {}, strips: {}, bus: "mix",
  lastTuned: "mix", matched: false, busGains: { mix: 1, original: 1, preview: 1 }, previewLufs: null,
  ctx: null, graph: null, out: null, analysers: null, playing: false, startedAt: 0, offset: 0, selected: 0,
};

// The token arrives in the URL's fragment, which no request, log or Referer carries; it moves out of the
// address bar (and history) into this page's memory, and into sessionStorage so a reload keeps it. Both are
// this origin's alone, port included, unlike a cookie, which every port of 127.0.0.1 would be sent.
function tokenFromAddress() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname);
  }
  return given;
}

// the audition's address opened again in this tab changes the fragment alone, which loads nothing: start afresh
window.addEventListener("hashchange", () => { if (tokenFromAddress()) location.reload(); });

// every request to the API, reads included, carries the token in a header
function authorised(headers = {}) {
  return { ...headers, "X-Tuss-Token": TOKEN };
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: authorised({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function gainsForServer() {
  const gains = {};
  for (const [name, strip] of Object.entries(state.strips)) gains[name] = strip.db <= FADER_FLOOR_DB ? "-inf" : strip.db;
  return gains;
}

// ---- overview ------------------------------------------------------------------------------------

function lanes() {
  return ["original", ...state.overview.sources];
}

function drawOverview() {
  const canvas = $("#overview");
  const width = (canvas.width = canvas.clientWidth * devicePixelRatio);
  const height = (canvas.height = 260 * devicePixelRatio);
  const g = canvas.getContext("2d");
  const names = lanes();
  const dbrHeight = state.overview.clarity ? height * 0.22 : 0;
  const laneHeight = (height - dbrHeight - 14 * devicePixelRatio) / names.length;
  const duration = state.overview.num_frames / state.rate;
  g.clearRect(0, 0, width, height);
  g.font = `${11 * devicePixelRatio}px system-ui`;
  names.forEach((name, lane) => {
    const [low, high] = state.overview.peaks[name];
    const middle = lane * laneHeight + laneHeight / 2;
    g.fillStyle = lane === 0 ? "#6c7683" : "#5fb3f9";
    for (let x = 0; x < width; x++) {
      const first = Math.floor((x * low.length) / width);
      const last = Math.max(first + 1, Math.floor(((x + 1) * low.length) / width));
      let min = Infinity, max = -Infinity;
      for (let i = first; i < last; i++) { min = Math.min(min, low[i]); max = Math.max(max, high[i]); }
      const scale = laneHeight / 2;
      g.fillRect(x, middle - Math.min(1, max) * scale, 1, Math.max(1, (Math.min(1, max) - Math.max(-1, min)) * scale));
    }
    g.fillStyle = "#e6e8eb";
    g.fillText(name, 4, lane * laneHeight + 12 * devicePixelRatio);
  });
  if (state.overview.clarity) drawClarity(g, width, height - dbrHeight - 14 * devicePixelRatio, dbrHeight, duration);
  drawAxis(g, width, height, duration);
  if (state.selection) {
    const [start, end] = state.selection;
    g.fillStyle = "rgba(95, 179, 249, 0.18)";
    g.fillRect((start / duration) * width, 0, ((end - start) / duration) * width, height - 14 * devicePixelRatio);
  }
  if (state.region && state.playing) {
    const x = ((state.region.start / state.rate + currentOffset()) / duration) * width;
    g.fillStyle = "#ffffff";
    g.fillRect(x, 0, devicePixelRatio, height);
  }
}

function drawClarity(g, width, top, laneHeight, duration) {
  const clarity = state.overview.clarity;
  g.fillStyle = "rgba(255, 90, 70, 0.35)";
  for (const [start, end] of clarity.regions) {
    g.fillRect((start / duration) * width, top, Math.max(1, ((end - start) / duration) * width), laneHeight);
  }
  const low = -20, high = 30; // LU shown
  const y = (lu) => top + laneHeight - ((Math.min(high, Math.max(low, lu)) - low) / (high - low)) * laneHeight;
  g.strokeStyle = "#f2c94c";
  g.setLineDash([4, 4]);
  g.beginPath(); g.moveTo(0, y(clarity.threshold_lu)); g.lineTo(width, y(clarity.threshold_lu)); g.stroke();
  g.setLineDash([]);
  g.fillStyle = "#e6e8eb";
  const hop = clarity.hop_seconds;
  clarity.dbr_lu.forEach((value, index) => {
    if (!clarity.dialogue[index]) return;
    const lu = value === "inf" ? high : value === "-inf" ? low : value;
    g.fillRect(((index * hop + 0.4) / duration) * width, y(lu), devicePixelRatio, devicePixelRatio);
  });
  g.fillText(`dialogue / background (LU), buried under ${clarity.threshold_lu} LU shaded`, 4, top + 12 * devicePixelRatio);
}

const TICK_STEPS_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

function drawAxis(g, width, height, duration) {
  // about one label per 160 px, on a round step, labelled in the programme's own timecode
  const step = TICK_STEPS_SECONDS.find((s) => (s / duration) * width >= 160 * devicePixelRatio) ?? 3600;
  g.fillStyle = "#9aa3ad";
  for (let seconds = 0; seconds < duration; seconds += step) {
    const x = (seconds / duration) * width;
    g.fillRect(x, height - 14 * devicePixelRatio, 1, 4 * devicePixelRatio);
    g.fillText(timecodeLabel(state.overview.clock, seconds), x + 3, height - 2 * devicePixelRatio);
  }
}

function overviewSeconds(event) {
  const box = $("#overview").getBoundingClientRect();
  const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  return share * (state.overview.num_frames / state.rate);
}

function setupSelection() {
  const canvas = $("#overview");
  let anchor = null;
  canvas.addEventListener("mousedown", (event) => { anchor = overviewSeconds(event); });
  window.addEventListener("mousemove", (event) => {
    if (anchor === null) return;
    const here = overviewSeconds(event);
    state.selection = clampRegion(Math.min(anchor, here), Math.max(anchor, here));
    showSelection();
  });
  window.addEventListener("mouseup", (event) => {
    if (anchor === null) return;
    const here = overviewSeconds(event);
    const [start, end] = Math.abs(here - anchor) < 0.25 ? [here, here + 20] : [Math.min(anchor, here), Math.max(anchor, here)];
    anchor = null;
    state.selection = clampRegion(start, end);
    showSelection();
    loadRegion();
  });
}

function clampRegion(start, end) {
  const duration = state.overview.num_frames / state.rate;
  end = Math.min(duration, Math.max(end, start + 0.5), start + state.overview.max_region_seconds);
  return [Math.max(0, Math.min(start, end - 0.5)), end];
}

function showSelection() {
  const [start, end] = state.selection;
  $("#region-label").textContent = `${timecodeLabel(state.overview.clock, start)} - ${timecodeLabel(state.overview.clock, end)}`;
  drawOverview();
}

// ---- region --------------------------------------------------------------------------------------

async function fetchSource(name, start, frames) {
  const response = await fetch(`/api/audio/${encodeURIComponent(name)}?start=${start}&frames=${frames}`,
    { headers: authorised() });
  if (!response.ok) throw new Error(`${name}: ${(await response.json()).error}`);
  const samples = new Float32Array(await response.arrayBuffer());
  const buffer = new AudioBuffer({ numberOfChannels: 2, length: frames, sampleRate: state.rate });
  buffer.copyToChannel(samples.subarray(0, frames), 0);
  buffer.copyToChannel(samples.subarray(frames, 2 * frames), 1);
  return buffer;
}

async function loadRegion() {
  const [startSeconds, endSeconds] = state.selection;
  const start = Math.round(startSeconds * state.rate);
  const frames = Math.min(Math.round(endSeconds * state.rate), state.overview.num_frames) - start;
  stop();
  $("#load-status").textContent = "loading...";
  document.body.dataset.ready = "false";
  try {
    const names = lanes();
    const buffers = await Promise.all(names.map((name) => fetchSource(name, start, frames)));
    state.buffers = Object.fromEntries(names.map((name, i) => [name, buffers[i]]));
    state.region = { start, frames };
    state.offset = 0;
    state.previewLufs = null;
    setPreviewAvailable(false);
    if (state.bus === "preview") setBus("mix");
    $("#load-status").textContent = `${(frames / state.rate).toFixed(1)} s loaded`;
    drawRegion();
    updatePosition();
    await matchLoudness();
    document.body.dataset.ready = "true";
  } catch (error) {
    $("#load-status").textContent = error.message;
    $("#load-status").classList.add("error");
  }
}

function drawRegion() {
  const canvas = $("#region");
  const width = (canvas.width = canvas.clientWidth * devicePixelRatio);
  const height = (canvas.height = 70 * devicePixelRatio);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const buffer = state.buffers.original;
  if (!buffer) return;
  const left = buffer.getChannelData(0), right = buffer.getChannelData(1);
  g.fillStyle = "#6c7683";
  for (let x = 0; x < width; x++) {
    const first = Math.floor((x * left.length) / width), last = Math.floor(((x + 1) * left.length) / width);
    let peak = 0;
    for (let i = first; i < last; i += 4) peak = Math.max(peak, Math.abs(left[i]), Math.abs(right[i]));
    g.fillRect(x, height / 2 - (Math.min(1, peak) * height) / 2, 1, Math.max(1, Math.min(1, peak) * height));
  }
  if (state.region) {
    g.fillStyle = "#ffffff";
    g.fillRect((currentOffset() / (state.region.frames / state.rate)) * width, 0, devicePixelRatio, height);
  }
}

// ---- transport -------------------------------------------------------------------------------------

function ensureContext() {
  if (state.ctx) return;
  state.ctx = new AudioContext({ sampleRate: state.rate, latencyHint: "interactive" });
  state.out = state.ctx.createGain();
  state.out.connect(state.ctx.destination);
  // the live meter: BS.1770 K-weighting in IIR filters with the server's coefficients for this rate
  let node = state.out;
  for (const stage of state.overview.k_weighting) {
    const filter = state.ctx.createIIRFilter(stage.b, stage.a);
    node.connect(filter);
    node = filter;
  }
  const splitter = state.ctx.createChannelSplitter(2);
  node.connect(splitter);
  state.analysers = [0, 1].map((channel) => {
    const analyser = state.ctx.createAnalyser();
    analyser.fftSize = 32768;
    splitter.connect(analyser, channel);
    return analyser;
  });
}

function currentOffset() {
  if (!state.region) return 0;
  const length = state.region.frames / state.rate;
  if (!state.playing) return state.offset;
  return (state.ctx.currentTime - state.startedAt) % length;
}

function play() {
  if (!state.region || state.playing) return;
  ensureContext();
  state.ctx.resume();
  const when = state.ctx.currentTime + 0.05;
  state.graph = buildGraph(state.ctx, state.buffers, sourceLevels(state.strips), state.bus, state.busGains,
    state.offset, when, state.out, true);
  state.startedAt = when - state.offset;
  state.playing = true;
  $('[data-action="play"]').textContent = "Stop";
  document.body.dataset.playing = "true";
}

function stop() {
  if (!state.playing) return;
  state.offset = currentOffset();
  for (const player of state.graph.players) player.stop();
  state.graph = null;
  state.playing = false;
  $('[data-action="play"]').textContent = "Play";
  document.body.dataset.playing = "false";
}

function restart() {
  const wasPlaying = state.playing;
  stop();
  if (wasPlaying) play();
}

function updatePosition() {
  if (!state.overview || !state.region) return;
  $("#position").textContent = timecodeLabel(state.overview.clock, state.region.start / state.rate + currentOffset());
}

function tick() {
  updatePosition();
  if (state.playing) {
    drawRegion();
    const channels = state.analysers.map((analyser) => {
      const data = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(data);
      return data;
    });
    const gain = state.overview.k_weighting.reduce((product, stage) => product * stage.gain, 1);
    const lufs = momentaryLufs(channels, state.rate, gain);
    $("#meter-value").textContent = Number.isFinite(lufs) ? lufs.toFixed(1) : "-inf";
    $("#meter-bar").value = Number.isFinite(lufs) ? lufs : -60;
  }
}

// ---- what you hear ---------------------------------------------------------------------------------

function setBus(bus) {
  if (bus === "preview" && !state.buffers.preview) return;
  state.bus = bus;
  if (bus !== "original") state.lastTuned = bus;
  for (const button of document.querySelectorAll("[data-bus]")) button.setAttribute("aria-pressed", String(button.dataset.bus === bus));
  document.body.dataset.bus = bus;
  if (state.graph) switchBus(state.graph, bus, state.busGains, state.ctx.currentTime);
}

function toggleAB() {
  setBus(state.bus === "original" ? state.lastTuned : "original");
}

function setPreviewAvailable(available) {
  $('[data-bus="preview"]').disabled = !available;
  if (!available) {
    delete state.buffers.preview;
    $("#preview-status").textContent = "";
  }
}

let matchTimer = null;
function scheduleLoudnessMatch() {
  clearTimeout(matchTimer);
  matchTimer = setTimeout(matchLoudness, 250);
}

/** Loudness-matched A/B: the original and the preview brought to the faders' mix's loudness (measured by
 *  the server over the region, BS.1770 on the programme's own layout), so the louder one does not win. */
async function matchLoudness() {
  state.busGains = { mix: 1, original: 1, preview: 1 };
  if (state.matched && state.region) {
    const measured = await api("/api/loudness", { start: state.region.start, frames: state.region.frames, gains_db: gainsForServer() });
    if (measured.mix_lufs !== null && measured.original_lufs !== null) {
      state.busGains.original = dbToGain(measured.mix_lufs - measured.original_lufs);
      if (state.previewLufs !== null) state.busGains.preview = dbToGain(measured.mix_lufs - state.previewLufs);
    }
  }
  if (state.graph) switchBus(state.graph, state.bus, state.busGains, state.ctx.currentTime);
}

async function renderPreview() {
  if (!state.region) return;
  const status = $("#preview-status");
  status.classList.remove("error");
  status.textContent = "rendering the region through the preset...";
  const button = $('[data-action="preview"]');
  button.disabled = true;
  try {
    const rendered = await api("/api/preview", { start: state.region.start, frames: state.region.frames, gains_db: gainsForServer() });
    state.buffers.preview = await fetchSource("preview", state.region.start, state.region.frames);
    state.previewLufs = rendered.output_lufs;
    setPreviewAvailable(true);
    const lufs = rendered.output_lufs === null ? "n/a" : `${rendered.output_lufs.toFixed(1)} LUFS`;
    status.textContent = `preview: ${lufs} (normalisation ${rendered.loudness_gain_db >= 0 ? "+" : ""}${rendered.loudness_gain_db.toFixed(1)} dB over the region${rendered.limited ? ", peak-limited" : ""})`;
    await matchLoudness();
    restart();
    setBus("preview");
    document.body.dataset.preview = "ready";
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
  } finally {
    button.disabled = false;
  }
}

// ---- faders -----------------------------------------------------------------------------------------

function buildMixer() {
  const mixer = $("#mixer");
  state.overview.sources.forEach((name, index) => {
    const initial = state.overview.gains_db[name];
    state.strips[name] = { db: initial === "-inf" ? FADER_FLOOR_DB : Math.max(FADER_FLOOR_DB, Math.min(FADER_TOP_DB, initial)), solo: false, mute: false };
    const strip = document.createElement("div");
    strip.className = "strip";
    strip.dataset.strip = name;
    strip.innerHTML = `<span class="key">${index + 1}</span><span class="name"></span><span class="gain"></span>
      <input type="range" min="${FADER_FLOOR_DB}" max="${FADER_TOP_DB}" step="0.1">
      <div class="buttons"><button type="button" class="solo" aria-pressed="false" title="S">S</button>
      <button type="button" class="mute" aria-pressed="false" title="M">M</button></div>`;
    strip.querySelector(".name").textContent = name;
    strip.querySelector(".name").title = name;
    const fader = strip.querySelector("input");
    fader.dataset.stem = name;
    fader.setAttribute("aria-label", `${name} gain in dB`);
    fader.value = state.strips[name].db;
    fader.addEventListener("input", () => setFader(name, Number(fader.value)));
    strip.querySelector(".solo").addEventListener("click", () => toggleStrip(name, "solo"));
    strip.querySelector(".mute").addEventListener("click", () => toggleStrip(name, "mute"));
    strip.addEventListener("pointerdown", () => selectStrip(index));
    mixer.appendChild(strip);
    showGain(name);
  });
  selectStrip(0);
}

function showGain(name) {
  const db = state.strips[name].db;
  $(`[data-strip="${name}"] .gain`).textContent = db <= FADER_FLOOR_DB ? "-inf dB" : `${db >= 0 ? "+" : ""}${db.toFixed(1)} dB`;
}

function applyLevels() {
  if (!state.graph) return;
  const levels = sourceLevels(state.strips);
  for (const [name, node] of Object.entries(state.graph.stripGains)) rampTo(node.gain, levels[name], state.ctx.currentTime);
}

function setFader(name, db) {
  state.strips[name].db = db;
  showGain(name);
  applyLevels();
  if (state.matched) scheduleLoudnessMatch();
}

function toggleStrip(name, what) {
  state.strips[name][what] = !state.strips[name][what];
  $(`[data-strip="${name}"] .${what}`).setAttribute("aria-pressed", String(state.strips[name][what]));
  applyLevels();
}

function selectStrip(index) {
  const names = state.overview.sources;
  if (index < 0 || index >= names.length) return;
  state.selected = index;
  for (const strip of document.querySelectorAll(".strip")) strip.classList.toggle("selected", strip.dataset.strip === names[index]);
}

// ---- save -------------------------------------------------------------------------------------------

async function save() {
  const result = $("#save-result");
  result.classList.remove("error");
  try {
    const saved = await api("/api/save", {
      gains_db: gainsForServer(), name: $("#save-name").value.trim(),
      overwrite: $("#overwrite").checked, automation: $("#automation").checked,
    });
    result.textContent = [`saved ${saved.preset}`, ...(saved.automation ? [`saved ${saved.automation}`] : []),
      "", "run it:", ...saved.commands].join("\n");
    document.body.dataset.saved = saved.preset;
  } catch (error) {
    result.textContent = error.message;
    result.classList.add("error");
  }
}

// ---- keys -------------------------------------------------------------------------------------------

function onKey(event) {
  if (event.target.matches('input[type="text"]') || event.ctrlKey || event.metaKey || event.altKey) return;
  const name = state.overview.sources[state.selected];
  if (event.code === "Space") {
    event.preventDefault();
    document.activeElement?.blur(); // a focused button would also take the space as a click
    state.playing ? stop() : play();
  }
  else if (event.key === "a" || event.key === "A") toggleAB();
  else if (event.key === "s" || event.key === "S") toggleStrip(name, "solo");
  else if (event.key === "m" || event.key === "M") toggleStrip(name, "mute");
  else if (/^[1-9]$/.test(event.key)) selectStrip(Number(event.key) - 1);
}

// ---- for scripts and tests: the region's audio graph rendered offline ---------------------------------

/** Render the loaded region through the same graph offline: {bus, switchTo, switchAtSeconds}. Returns the
 *  (2, n) result as base64 of little-endian float32, left channel then right. */
async function renderOffline({ bus = state.bus, switchTo = null, switchAtSeconds = 0 } = {}) {
  const ctx = new OfflineAudioContext(2, state.region.frames, state.rate);
  const graph = buildGraph(ctx, state.buffers, sourceLevels(state.strips), bus, state.busGains, 0, 0, ctx.destination, false);
  if (switchTo) switchBus(graph, switchTo, state.busGains, switchAtSeconds);
  const rendered = await ctx.startRendering();
  const both = new Float32Array(2 * rendered.length);
  both.set(rendered.getChannelData(0), 0);
  both.set(rendered.getChannelData(1), rendered.length);
  const bytes = new Uint8Array(both.buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// ---- start --------------------------------------------------------------------------------------------

async function start() {
  const response = await fetch("/api/overview", { headers: authorised() });
  if (!response.ok) {
    document.body.textContent = "This page needs the address tuss-fx audition printed (its #token part): "
      + "open that address again.";
    return;
  }
  state.overview = await response.json();
  state.rate = state.overview.sample_rate;
  $("#programme").textContent = state.overview.programme;
  $("#plan").textContent = [`${state.overview.preset}: ${state.overview.plan}`,
    ...state.overview.replacements.map((r) => `${r.stem} replaced by ${r.file} (match ${r.match}`
      + (r.gain_db_range ? `, ${r.lines.length} lines at ${r.gain_db_range[0].toFixed(1)} to ${r.gain_db_range[1].toFixed(1)} dB` : "")
      + `): fader "${r.fader}"`)].join("; ");
  $("#save-name").value = state.overview.save_name;
  $("#save-folder").textContent = state.overview.save_folder;
  buildMixer();
  setupSelection();
  for (const button of document.querySelectorAll("[data-bus]")) button.addEventListener("click", () => setBus(button.dataset.bus));
  $('[data-action="ab"]').addEventListener("click", toggleAB);
  $('[data-action="play"]').addEventListener("click", () => (state.playing ? stop() : play()));
  $('[data-action="rewind"]').addEventListener("click", () => { state.offset = 0; restart(); updatePosition(); });
  $('[data-action="load"]').addEventListener("click", loadRegion);
  $('[data-action="worst"]').addEventListener("click", () => { state.selection = clampRegion(...state.overview.default_region); showSelection(); loadRegion(); });
  $('[data-action="preview"]').addEventListener("click", renderPreview);
  $('[data-action="save"]').addEventListener("click", save);
  $("#matched").addEventListener("change", (event) => { state.matched = event.target.checked; matchLoudness(); });
  $("#region").addEventListener("click", (event) => {
    if (!state.region) return;
    const box = $("#region").getBoundingClientRect();
    state.offset = ((event.clientX - box.left) / box.width) * (state.region.frames / state.rate);
    restart();
    updatePosition();
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => { drawOverview(); drawRegion(); });
  setInterval(tick, 100);
  window.tussAudition = { state, renderOffline, loadRegion, play, stop, setBus, toggleAB, timecodeLabel };
  state.selection = clampRegion(...state.overview.default_region);
  showSelection();
  await loadRegion();
}

start();
