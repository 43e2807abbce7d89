// KAI Ambient web page: a client of the daemon's control plane (/ws, protocol kai.v1) and a
// satellite microphone/speaker (16 kHz mono s16le binary frames both ways). No build, no dependencies.

const RATE = 16000;
const TOKEN_KEY = 'kai.token';
const STATE_WORDS = {
  idle: 'Idle',
  wake: 'Listening…',
  listen: 'Listening',
  think: 'Thinking',
  confirm: 'Waiting for your approval',
  speak: 'Speaking',
  followUp: 'Listening for a follow-up',
  error: 'Something went wrong',
};
const METRICS = [
  ['voiceToVoiceMs', 'Voice to voice'],
  ['eouDelayMs', 'End-of-speech decision'],
  ['sttFinalMs', 'Final transcript'],
  ['llmTtftMs', 'First LLM token'],
  ['ttsTtfbMs', 'First speech audio'],
  ['bargeInStopMs', 'Barge-in stop'],
  ['wakeScore', 'Wake-word score'],
];

const $ = (id) => document.getElementById(id);
const ui = {
  connection: $('connection'), signin: $('signin'), signinForm: $('signin-form'), signinError: $('signin-error'), token: $('token'),
  state: $('state'), interim: $('interim'), ptt: $('ptt'), handsfree: $('handsfree'), cancel: $('cancel'), mic: $('mic'), notice: $('notice'),
  requestsSection: $('requests-section'), requests: $('requests'), conversation: $('conversation'), sayForm: $('say-form'), say: $('say'),
  sayButton: document.querySelector('#say-form button'), jobs: $('jobs'), noJobs: $('no-jobs'), latency: $('latency'), noLatency: $('no-latency'),
};

/** Counters the tests (and curious people) can read. */
const stats = { connects: 0, framesIn: 0, bytesIn: 0, scheduledMs: 0, samplesOut: 0 };
window.kai = { stats };

const store = {
  get: (k) => { try { return localStorage.getItem(k) ?? ''; } catch { return ''; } },
  set: (k, v) => { try { v ? localStorage.setItem(k, v) : localStorage.removeItem(k); } catch { /* private mode */ } },
};

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- Connection -------------------------------------------------------------------------------

let token = tokenFromLink() || store.get(TOKEN_KEY);
let ws = null;
let opened = false;
let retryMs = 1000;
let retryTimer = 0;
let seq = 0;
let assistantState = 'idle';

/** The token from a #token=… link (kept, then removed from the address bar), or ''. */
function tokenFromLink() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromLink === null) return '';
  history.replaceState(null, '', location.pathname + location.search);
  if (fromLink.trim()) store.set(TOKEN_KEY, fromLink.trim());
  return fromLink.trim();
}

// A new link pasted into an open tab only changes the fragment.
window.addEventListener('hashchange', () => {
  const fresh = tokenFromLink();
  if (!fresh) return;
  token = fresh;
  ui.signin.hidden = true;
  connect();
});

function setConnection(status, text) {
  ui.connection.dataset.status = status;
  ui.connection.textContent = text;
}

function connect() {
  clearTimeout(retryTimer);
  if (ws) {
    const old = ws;
    ws = null;
    opened = false;
    setEnabled(false);
    old.close();
  }
  if (!token) return askToken('');
  setConnection('connecting', 'Connecting…');
  let socket;
  try {
    socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, ['kai.v1', `bearer.${token}`]);
  } catch {
    return askToken('That is not a token (it has spaces or other characters a token never has). Paste it again.');
  }
  socket.binaryType = 'arraybuffer';
  ws = socket;
  opened = false;
  socket.onopen = () => {
    opened = true;
    retryMs = 1000;
    stats.connects += 1;
    setConnection('connected', 'Connected');
    setEnabled(true);
    if (mic) sendAudioStart();
  };
  socket.onmessage = (event) => {
    if (ws !== socket) return;
    if (typeof event.data === 'string') onMessage(JSON.parse(event.data));
    else onAudio(event.data);
  };
  socket.onclose = () => {
    if (ws !== socket) return;
    const wasOpen = opened;
    ws = null;
    opened = false;
    setEnabled(false);
    if (wasOpen) retry('Disconnected');
    else void checkToken();
  };
}

/** A browser cannot see why a WebSocket was refused: ask /metrics, which answers 401 to a wrong token. */
async function checkToken() {
  const asked = token;
  let status = 0;
  try {
    status = (await fetch('/metrics', { headers: { Authorization: `Bearer ${asked}` }, cache: 'no-store' })).status;
  } catch { /* the daemon is down */ }
  if (ws || token !== asked) return; // another connection began meanwhile
  if (status === 401) {
    token = '';
    store.set(TOKEN_KEY, '');
    askToken('The daemon refused this token. Open the link kai run printed, or paste the current token.');
  } else retry(status ? 'The daemon refused the connection' : 'The daemon is not reachable');
}

function retry(reason) {
  const seconds = Math.round(retryMs / 1000);
  setConnection('offline', `${reason}; retrying in ${seconds} s`);
  retryTimer = setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 30_000);
}

function askToken(error) {
  setConnection('signed-out', error ? 'Token refused' : 'Not signed in');
  ui.signinError.textContent = error;
  ui.signin.hidden = false;
  ui.token.value = '';
  ui.token.focus();
}

ui.signinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  token = ui.token.value.trim();
  if (!token) return;
  store.set(TOKEN_KEY, token);
  ui.signin.hidden = true;
  ui.signinError.textContent = '';
  connect();
});

function setEnabled(on) {
  ui.ptt.disabled = !on;
  ui.handsfree.disabled = !on;
  ui.sayButton.disabled = !on;
  ui.cancel.disabled = !on || assistantState === 'idle';
}

/** Sends a control message; returns its id, or null when not connected. */
function send(message) {
  if (!ws || !opened) {
    notice('Not connected yet; try again in a moment.');
    return null;
  }
  const id = `c${++seq}`;
  ws.send(JSON.stringify({ ...message, id }));
  return id;
}

let noticeTimer = 0;
function notice(text) {
  ui.notice.textContent = text;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => { ui.notice.textContent = ''; }, 10_000);
}

// ---- Server messages --------------------------------------------------------------------------

/** Control message id → permission request id, to drop a card the daemon no longer knows. */
const answers = new Map();

function onMessage(m) {
  switch (m.type) {
    case 'welcome':
      setState(m.state);
      for (const id of [...requestCards.keys()]) if (!m.pending.some((p) => p.id === id)) removeRequest(id);
      for (const request of m.pending) addRequest(request);
      jobCards.clear();
      ui.jobs.replaceChildren();
      for (const job of m.jobs) showJob(job);
      showTurn(m.lastTurn);
      break;
    case 'state':
      setState(m.value);
      break;
    case 'transcript':
      if (m.final) {
        ui.interim.textContent = '';
        if (m.text) addEntry('user', 'You', m.text);
      } else ui.interim.textContent = m.text;
      break;
    case 'assistant':
      addEntry('assistant', 'KAI', m.text);
      break;
    case 'tool_result':
      addEntry(m.ok ? 'tool' : 'tool failed', m.name, m.summary);
      break;
    case 'permission_request':
      addRequest(m);
      break;
    case 'permission_resolved':
      removeRequest(m.id);
      if (m.by === 'timeout') addEntry('note', 'Note', 'No answer in time: not done.');
      break;
    case 'job':
      showJob(m.job);
      break;
    case 'turn':
      showTurn(m);
      break;
    case 'service_error':
      addEntry('note failed', m.source, m.message);
      break;
    case 'audio_clear':
      clearPlayback();
      break;
    case 'error':
      notice(m.message);
      if (m.code === 'not_found' && answers.has(m.id)) removeRequest(answers.get(m.id));
      break;
  }
}

function setState(value) {
  assistantState = value;
  ui.state.dataset.state = value;
  ui.state.textContent = STATE_WORDS[value] ?? value;
  if (value === 'listen') ui.interim.textContent = '';
  ui.cancel.disabled = !opened || value === 'idle';
  if (value === 'idle') maybeStopMic();
}

function addEntry(kind, who, text) {
  const item = h('li', kind);
  item.append(h('span', 'who', who), h('span', 'text', text));
  ui.conversation.append(item);
  while (ui.conversation.childElementCount > 200) ui.conversation.firstElementChild.remove();
  ui.conversation.scrollTop = ui.conversation.scrollHeight;
}

// ---- Permission requests ----------------------------------------------------------------------

const requestCards = new Map();

function addRequest({ id, prompt }) {
  if (requestCards.has(id)) return;
  const card = h('li', 'card request');
  const text = h('p', 'prompt', prompt);
  text.id = `request-${id}`;
  const approve = h('button', 'approve', 'Approve');
  const deny = h('button', 'deny', 'Deny');
  for (const [button, approved] of [[approve, true], [deny, false]]) {
    button.type = 'button';
    button.setAttribute('aria-describedby', text.id);
    button.addEventListener('click', () => {
      const sent = send({ type: approved ? 'approve' : 'deny', requestId: id });
      if (!sent) return;
      answers.set(sent, id);
      approve.disabled = deny.disabled = true;
    });
  }
  const actions = h('div', 'actions');
  actions.append(approve, deny);
  card.append(text, actions);
  requestCards.set(id, card);
  ui.requests.append(card);
  ui.requestsSection.hidden = false;
}

function removeRequest(id) {
  requestCards.get(id)?.remove();
  requestCards.delete(id);
  ui.requestsSection.hidden = requestCards.size === 0;
}

// ---- Jobs -------------------------------------------------------------------------------------

const jobCards = new Map();

function showJob(job) {
  let card = jobCards.get(job.id);
  if (!card) {
    card = { item: h('li', 'card job'), task: h('p', 'task'), status: h('p', 'status'), cancel: h('button', 'cancel-job', 'Cancel') };
    card.cancel.type = 'button';
    card.cancel.addEventListener('click', () => {
      if (send({ type: 'job_cancel', jobId: job.id })) card.cancel.disabled = true;
    });
    card.item.append(card.task, card.status, card.cancel);
    jobCards.set(job.id, card);
    ui.jobs.append(card.item);
    while (jobCards.size > 20) {
      const [oldest] = jobCards.keys();
      jobCards.get(oldest).item.remove();
      jobCards.delete(oldest);
    }
  }
  card.item.dataset.status = job.status;
  card.task.textContent = job.task;
  card.status.replaceChildren(h('span', 'badge', job.status), document.createTextNode(job.detail ? ` ${job.detail}` : ''));
  const active = job.status === 'queued' || job.status === 'running';
  card.cancel.hidden = !active;
  card.cancel.setAttribute('aria-label', `Cancel job: ${job.task}`);
  if (!active) card.cancel.disabled = false;
  ui.noJobs.hidden = jobCards.size > 0;
}

// ---- Latencies --------------------------------------------------------------------------------

function showTurn(turn) {
  ui.latency.replaceChildren();
  ui.noLatency.hidden = Boolean(turn);
  if (!turn) return;
  const row = (label, value) => ui.latency.append(h('dt', null, label), h('dd', null, value));
  row('Turn', String(turn.turn));
  for (const [key, label] of METRICS) {
    const value = turn[key];
    if (value === null || value === undefined) continue;
    row(label, key === 'wakeScore' ? value.toFixed(2) : `${Math.round(value)} ms`);
  }
  if (turn.interrupted) row('Interrupted', turn.heardText ? `after “${turn.heardText}”` : 'yes');
  if (turn.errors?.length) row('Errors', turn.errors.join('; '));
}

// ---- Playback: 16 kHz s16le frames scheduled back to back ---------------------------------------

let audioCtx = null;
let playHead = 0;
const playing = new Set();

function audioContext() {
  audioCtx ??= new AudioContext({ latencyHint: 'interactive' });
  if (audioCtx.state === 'suspended') void audioCtx.resume();
  return audioCtx;
}

function onAudio(data) {
  stats.framesIn += 1;
  stats.bytesIn += data.byteLength;
  if (!audioCtx || data.byteLength < 2) return;
  const pcm = new Int16Array(data, 0, data.byteLength >> 1);
  const buffer = audioCtx.createBuffer(1, pcm.length, RATE);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
  const source = audioCtx.createBufferSource();
  source.buffer = buffer;
  source.connect(audioCtx.destination);
  // Behind the clock (first frame, or after a gap): start a little ahead so the next frames keep up.
  if (playHead < audioCtx.currentTime + 0.01) playHead = audioCtx.currentTime + 0.05;
  source.start(playHead);
  playHead += buffer.duration;
  stats.scheduledMs += buffer.duration * 1000;
  playing.add(source);
  source.onended = () => playing.delete(source);
}

function clearPlayback() {
  for (const source of playing) {
    try { source.stop(); } catch { /* not started */ }
  }
  playing.clear();
  playHead = 0;
}

// ---- Microphone: an AudioWorklet downsamples to 16 kHz, chunks go out as binary frames ----------

let mic = null;
let micStarting = null;
let workletLoaded = null;

function ensureMic() {
  if (mic) return Promise.resolve(mic);
  micStarting ??= startMic().finally(() => { micStarting = null; });
  return micStarting;
}

async function startMic() {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('This browser only gives a microphone to https pages or localhost.');
  const ctx = audioContext();
  workletLoaded ??= ctx.audioWorklet.addModule('/mic-worklet.js');
  await workletLoaded;
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, 'kai-mic', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
  const current = { stream, source, node };
  node.port.onmessage = (event) => {
    if (mic !== current || !ws || !opened) return;
    ws.send(event.data);
    stats.samplesOut += event.data.byteLength / 2;
  };
  source.connect(node);
  mic = current;
  sendAudioStart();
  for (const track of stream.getAudioTracks()) track.addEventListener('ended', () => stopMic('The microphone stopped.'));
  ui.mic.textContent = 'Microphone on';
  return current;
}

function sendAudioStart() {
  if (opened) send({ type: 'audio_start', sampleRate: RATE, format: 's16le', playback: true });
}

function stopMic(message = '') {
  const current = mic;
  if (!current) return;
  mic = null;
  current.node.port.onmessage = null;
  current.source.disconnect();
  for (const track of current.stream.getTracks()) track.stop();
  if (opened) send({ type: 'audio_stop' });
  ui.mic.textContent = message;
  if (ui.handsfree.checked && message) ui.handsfree.checked = false;
}

/** The mic stays on while held, hands-free, or until the turn it started is over (its reply comes back here). */
function maybeStopMic() {
  if (pressed || holding || micStarting || ui.handsfree.checked || assistantState !== 'idle') return;
  stopMic();
}

function micError(err) {
  if (err?.name === 'NotAllowedError') return 'The microphone is blocked: allow it for this page in the browser settings.';
  if (err?.name === 'NotFoundError') return 'No microphone found.';
  return `The microphone could not start: ${err?.message ?? err}`;
}

// ---- Push-to-talk -----------------------------------------------------------------------------

let pressed = false;
let holding = false;

async function press() {
  if (pressed || !opened) return;
  pressed = true;
  ui.ptt.setAttribute('aria-pressed', 'true');
  try {
    await ensureMic();
  } catch (err) {
    pressed = false;
    ui.ptt.setAttribute('aria-pressed', 'false');
    notice(micError(err));
    return;
  }
  if (!pressed) return maybeStopMic(); // released before the microphone was ready
  holding = true;
  send({ type: 'ptt', action: 'start' });
}

function release() {
  if (!pressed) return;
  pressed = false;
  ui.ptt.setAttribute('aria-pressed', 'false');
  if (!holding) return;
  holding = false;
  send({ type: 'ptt', action: 'stop' });
  // Normally the "idle" state releases the microphone; this covers a press the daemon ignored.
  setTimeout(maybeStopMic, 3000);
}

const isTalkKey = (event) => event.key === ' ' || event.key === 'Enter';
ui.ptt.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  ui.ptt.setPointerCapture(event.pointerId);
  ui.ptt.focus({ preventScroll: true });
  void press();
});
for (const type of ['pointerup', 'pointercancel', 'lostpointercapture', 'blur']) ui.ptt.addEventListener(type, release);
ui.ptt.addEventListener('contextmenu', (event) => event.preventDefault());
ui.ptt.addEventListener('keydown', (event) => {
  if (!isTalkKey(event)) return;
  event.preventDefault();
  if (!event.repeat) void press();
});
ui.ptt.addEventListener('keyup', (event) => {
  if (!isTalkKey(event)) return;
  event.preventDefault();
  release();
});
// Space anywhere outside a control talks too; Esc stops the assistant.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && opened && assistantState !== 'idle') send({ type: 'cancel' });
  if (event.key === ' ' && event.target === document.body) {
    event.preventDefault();
    if (!event.repeat) void press();
  }
});
document.addEventListener('keyup', (event) => {
  if (event.key === ' ' && event.target === document.body) release();
});
window.addEventListener('blur', release);

ui.handsfree.addEventListener('change', async () => {
  if (!ui.handsfree.checked) return maybeStopMic();
  try {
    await ensureMic();
    ui.mic.textContent = 'Hands-free: the microphone is on; say the wake word.';
  } catch (err) {
    ui.handsfree.checked = false;
    notice(micError(err));
  }
});

ui.cancel.addEventListener('click', () => send({ type: 'cancel' }));

ui.sayForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.say.value.trim();
  if (text && send({ type: 'say', text })) ui.say.value = '';
});

window.addEventListener('online', () => {
  if (!ws && token) connect();
});

connect();
