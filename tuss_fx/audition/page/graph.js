// The audition's audio graph and the arithmetic the page shares with the server, kept apart from the
// page's controls so one function builds the graph on a live AudioContext or on an OfflineAudioContext:
// what a test renders offline is what plays.
//
// One context, one clock: every source is an AudioBufferSourceNode started at the same context time
// with the same offset, so the stems stay sample-aligned (separate <audio> elements drift). Three buses
// meet at the output: "mix" (each fader's source through its gain), "original" and "preview"; A/B moves
// the bus gains in RAMP_SECONDS ramps while every source keeps playing, so a switch has no gap.

export const FADER_FLOOR_DB = -72; // the fader's bottom stop, which means -inf (muted, saved as -inf)
export const FADER_TOP_DB = 12;
export const RAMP_SECONDS = 0.01; // A/B and fader moves: short enough to feel instant, no click
export const BUSES = ["mix", "original", "preview"];

/** dB -> linear gain; the fader floor (and -Infinity) is silence. */
export function dbToGain(db) {
  return db <= FADER_FLOOR_DB ? 0 : Math.pow(10, db / 20);
}

/** Linear gain of each source from its strip: {name: {db, solo, mute}} -> {name: gain}. Solo and mute are
 *  for listening: a soloed strip silences the others, a muted strip itself. */
export function sourceLevels(strips) {
  const soloed = Object.values(strips).some((strip) => strip.solo);
  const levels = {};
  for (const [name, strip] of Object.entries(strips)) {
    levels[name] = strip.mute || (soloed && !strip.solo) ? 0 : dbToGain(strip.db);
  }
  return levels;
}

/** Build and start the graph: buffers {name: AudioBuffer} (the faders' sources, "original", maybe
 *  "preview"), levels {source: gain}, the bus heard and each bus's gain (loudness matching), all started at
 *  context time `when` from `offset` seconds into the region. Returns the nodes a player moves later. */
export function buildGraph(ctx, buffers, levels, bus, busGains, offset, when, destination, loop) {
  const busNodes = {};
  for (const name of BUSES) {
    const node = ctx.createGain();
    node.gain.value = name === bus ? busGains[name] ?? 1 : 0;
    node.connect(destination || ctx.destination);
    busNodes[name] = node;
  }
  const stripGains = {};
  const players = [];
  for (const [name, buffer] of Object.entries(buffers)) {
    const player = ctx.createBufferSource();
    player.buffer = buffer;
    player.loop = Boolean(loop);
    if (name in busNodes) {
      player.connect(busNodes[name]);
    } else {
      const gain = ctx.createGain();
      gain.gain.value = levels[name] ?? 0;
      gain.connect(busNodes.mix);
      stripGains[name] = gain;
      player.connect(gain);
    }
    players.push(player);
  }
  for (const player of players) player.start(when, offset);
  return { busNodes, stripGains, players };
}

/** Move a gain to `value` in a RAMP_SECONDS ramp starting at context time `at`. */
export function rampTo(param, value, at) {
  param.cancelScheduledValues(at);
  param.setValueAtTime(param.value, at);
  param.linearRampToValueAtTime(value, at + RAMP_SECONDS);
}

/** A/B: hear `bus` from context time `at`, the others faded out in the same ramp; nothing stops. */
export function switchBus(graph, bus, busGains, at) {
  for (const [name, node] of Object.entries(graph.busNodes)) {
    rampTo(node.gain, name === bus ? busGains[name] ?? 1 : 0, at);
  }
}

/** A programme position as its timecode, as tuss_fx.media.timecode.ProgrammeClock.label writes it:
 *  clock {start_seconds, frame_rate: [num, den] | null, drop_frame}. */
export function timecodeLabel(clock, offsetSeconds) {
  const seconds = clock.start_seconds + offsetSeconds;
  const pad = (value, width = 2) => String(value).padStart(width, "0");
  if (!clock.frame_rate) {
    const total = Math.round(seconds * 1000);
    const whole = Math.floor(total / 1000);
    return `${pad(Math.floor(whole / 3600))}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}.${pad(total % 1000, 3)}`;
  }
  const rate = clock.frame_rate[0] / clock.frame_rate[1];
  let frame = Math.floor(seconds * rate + 1e-6);
  const nominal = Math.round(rate);
  if (clock.drop_frame) {
    const drop = Math.floor(nominal / 15);
    const perTenMinutes = nominal * 600 - drop * 9;
    const perMinute = nominal * 60 - drop;
    const tens = Math.floor(frame / perTenMinutes);
    const rest = frame % perTenMinutes;
    frame += drop * 9 * tens + (rest > drop ? drop * Math.floor((rest - drop) / perMinute) : 0);
  }
  const whole = Math.floor(frame / nominal);
  const separator = clock.drop_frame ? ";" : ":";
  return `${pad(Math.floor(whole / 3600) % 24)}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}${separator}${pad(frame % nominal)}`;
}

/** Momentary loudness (LUFS) of the last 400 ms from K-weighted channels (each a Float32Array whose tail
 *  holds them) with the filters' passband gain: BS.1770 with both channels weighted 1. */
export function momentaryLufs(channels, sampleRate, passbandGain) {
  const count = Math.min(Math.round(0.4 * sampleRate), channels[0].length);
  let sum = 0;
  for (const channel of channels) {
    let energy = 0;
    for (let i = channel.length - count; i < channel.length; i++) energy += channel[i] * channel[i];
    sum += energy / count;
  }
  const power = sum * passbandGain * passbandGain;
  return power > 0 ? -0.691 + 10 * Math.log10(power) : -Infinity;
}
