// Downsamples the microphone (the AudioContext's rate, usually 48 or 44.1 kHz) to 16 kHz mono and
// posts Int16Array buffers of 30 ms (480 samples) to the main thread. Each output sample is the
// mean of the input samples it covers: a box filter, enough anti-aliasing for speech recognition.

const OUT_RATE = 16000;
const CHUNK = 480;

class KaiMic extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.position = 0;
    this.sum = 0;
    this.count = 0;
    this.chunk = new Int16Array(CHUNK);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const input = channels[0];
    for (let i = 0; i < input.length; i++) {
      this.sum += input[i];
      this.count += 1;
      this.position += 1;
      if (this.position < this.step) continue;
      this.position -= this.step;
      const value = Math.max(-1, Math.min(1, this.sum / this.count));
      this.sum = 0;
      this.count = 0;
      this.chunk[this.filled++] = value < 0 ? value * 32768 : value * 32767;
      if (this.filled === CHUNK) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(CHUNK);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('kai-mic', KaiMic);
