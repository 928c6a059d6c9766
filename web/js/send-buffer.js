// The speaker's outgoing audio on its sample timeline (samples at 16 kHz
// since the session began, as the server counts them). Audio stays here
// until the server acknowledges it, so a dropped socket loses nothing: the
// next "ready" says how many samples the server holds and sending resumes
// from there. Bounded: past maxSamples the oldest unacknowledged audio goes.

export class SendBuffer {
  constructor(maxSamples) {
    this.maxSamples = maxSamples;
    this.chunks = []; // {start, pcm: Int16Array}, in timeline order, contiguous
    this.buffered = 0; // samples held in chunks
    this.end = 0; // timeline position after the newest captured sample
    this.sent = 0; // timeline position up to which the current socket has the audio
    this.acked = 0;
    this.dropped = 0; // samples lost because the buffer overflowed
    this.anchored = false; // false until the first "ready" fixes the timeline
  }

  /** Adds captured audio; returns the chunk. */
  push(pcm) {
    const chunk = {start: this.end, pcm};
    this.chunks.push(chunk);
    this.end += pcm.length;
    this.buffered += pcm.length;
    while (this.buffered > this.maxSamples && this.chunks.length > 1) {
      const old = this.chunks.shift();
      this.buffered -= old.pcm.length;
      const oldEnd = old.start + old.pcm.length;
      if (oldEnd > this.acked) this.dropped += oldEnd - Math.max(old.start, this.acked);
    }
    return chunk;
  }

  /** The server holds everything before n: forget it. */
  ack(n) {
    if (n > this.acked) this.acked = n;
    while (this.chunks.length && this.chunks[0].start + this.chunks[0].pcm.length <= this.acked) {
      this.buffered -= this.chunks.shift().pcm.length;
    }
  }

  /**
   * A (re)connected socket reported n received samples. Returns the views to
   * send, in order, and marks them sent. The first ready anchors the timeline:
   * audio captured before it is placed right after the server's n samples.
   */
  resume(n) {
    if (!this.anchored) {
      this.anchored = true;
      for (const c of this.chunks) c.start += n;
      this.end += n;
      this.acked = n;
    } else if (n > this.end) {
      // The server holds audio this page never captured (another tab spoke):
      // continue after it rather than resend what it already has.
      const shift = n - this.end;
      for (const c of this.chunks) c.start += shift;
      this.end = n;
    }
    this.ack(n);
    const out = [];
    for (const c of this.chunks) {
      const skip = Math.max(0, n - c.start);
      out.push(skip ? c.pcm.subarray(skip) : c.pcm);
    }
    this.sent = this.end;
    return out;
  }

  /** Samples neither acknowledged nor dropped. */
  get pending() {
    return this.end - this.acked;
  }
}
