// AudioWorklet: microphone audio at the context's rate (whatever the device
// gives: often 44.1 or 48 kHz) -> mono PCM16 at 16 kHz in fixed-size frames.
// Downsampling low-passes first (Hamming-windowed sinc) so that energy above
// the new Nyquist frequency does not fold back into the speech band, then
// interpolates linearly between filtered samples at the fractional positions.

const DEFAULT_TARGET_RATE_HZ = 16000;
const DEFAULT_FRAME_SAMPLES = 1600; // 100 ms at 16 kHz
// Pass band up to about 6.5 kHz, stop band from the new Nyquist (8 kHz).
const CUTOFF_FRACTION_OF_TARGET = 0.453; // 7.25 kHz at 16 kHz
const TRANSITION_FRACTION_OF_TARGET = 0.094; // 1.5 kHz at 16 kHz
const HAMMING_WIDTH_FACTOR = 3.3; // transition width * taps / rate for a Hamming window
const PCM16_MAX = 32767;

function lowPassTaps(inRate, cutoffHz, transitionHz) {
  let n = Math.ceil((HAMMING_WIDTH_FACTOR * inRate) / transitionHz);
  if (n % 2 === 0) n += 1;
  const taps = new Float32Array(n);
  const fc = cutoffHz / inRate;
  const mid = (n - 1) / 2;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (n - 1));
    taps[i] = sinc * w;
    sum += taps[i];
  }
  for (let i = 0; i < n; i++) taps[i] /= sum; // unity gain at DC
  return taps;
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    const outRate = opts.targetRate || DEFAULT_TARGET_RATE_HZ;
    this.frameSamples = opts.frameSamples || DEFAULT_FRAME_SAMPLES;
    this.step = sampleRate / outRate; // input samples per output sample
    if (sampleRate > outRate) {
      this.taps = lowPassTaps(sampleRate, outRate * CUTOFF_FRACTION_OF_TARGET,
        outRate * TRANSITION_FRACTION_OF_TARGET);
      // Each sample is stored twice so the newest taps.length samples are contiguous.
      this.history = new Float32Array(this.taps.length * 2);
      this.historyPos = 0;
    } else {
      this.taps = null; // upsampling or equal rates: linear interpolation alone
    }
    this.prev = null;
    this.inputTotal = 0; // input samples consumed, reported with each frame
    this.t = 0; // position of the next output sample, in input samples after prev
    this.newFrame();
    this.port.onmessage = (ev) => {
      if (ev.data && ev.data.type === 'flush') {
        this.emit();
        this.port.postMessage({type: 'flushed', id: ev.data.id});
      }
    };
  }

  newFrame() {
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.peak = 0;
    this.sumSquares = 0;
  }

  emit() {
    if (this.fill === 0) return;
    const pcm = this.fill === this.frameSamples ? this.frame : this.frame.slice(0, this.fill);
    this.port.postMessage({
      type: 'frame',
      pcm: pcm.buffer,
      peak: this.peak,
      inputTotal: this.inputTotal,
      rms: Math.sqrt(this.sumSquares / this.fill),
    }, [pcm.buffer]);
    this.newFrame();
  }

  filter(x) {
    if (!this.taps) return x;
    const n = this.taps.length;
    this.history[this.historyPos] = x;
    this.history[this.historyPos + n] = x;
    this.historyPos = (this.historyPos + 1) % n;
    // Oldest sample is at historyPos; the window is history[historyPos .. historyPos + n).
    let acc = 0;
    const h = this.history;
    const taps = this.taps;
    const base = this.historyPos;
    for (let i = 0; i < n; i++) acc += taps[i] * h[base + i];
    return acc;
  }

  output(v) {
    const c = v > 1 ? 1 : v < -1 ? -1 : v;
    const a = c < 0 ? -c : c;
    if (a > this.peak) this.peak = a;
    this.sumSquares += c * c;
    this.frame[this.fill++] = Math.round(c * PCM16_MAX);
    if (this.fill === this.frameSamples) this.emit();
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true; // nothing connected yet
    const channels = input.length;
    const len = input[0].length;
    for (let i = 0; i < len; i++) {
      let x = 0;
      for (let c = 0; c < channels; c++) x += input[c][i];
      const y = this.filter(x / channels);
      if (this.prev === null) this.prev = y;
      // Output samples between prev (t = 0) and y (t = 1).
      while (this.t < 1) {
        this.output(this.prev + this.t * (y - this.prev));
        this.t += this.step;
      }
      this.t -= 1;
      this.prev = y;
    }
    this.inputTotal += len;
    return true;
  }
}

registerProcessor('babelcast-capture', CaptureProcessor);
