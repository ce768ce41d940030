/** Copying secrets: the clipboard is cleared after `seconds` unless something else was
 * copied meanwhile. The timer logic is separate from the browser API so it can be tested. */
export interface ClipboardLike {
  writeText(text: string): Promise<void>;
  readText?(): Promise<string>;
}

export class SecretClipboard {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = "";

  constructor(
    private clip: ClipboardLike,
    // Wrapped: called as methods, the bare browser functions throw "Illegal invocation".
    private schedule: (f: () => void, ms: number) => ReturnType<typeof setTimeout> = (f, ms) => setTimeout(f, ms),
    private cancel: (t: ReturnType<typeof setTimeout>) => void = (t) => clearTimeout(t),
  ) {}

  async copy(text: string, seconds: number): Promise<void> {
    await this.clip.writeText(text);
    this.last = text;
    if (this.timer !== undefined) this.cancel(this.timer);
    this.timer = this.schedule(() => void this.clear(), seconds * 1000);
  }

  /** Clears the clipboard if it still holds what we put there. */
  async clear(): Promise<void> {
    this.timer = undefined;
    const current = this.clip.readText ? await this.clip.readText().catch(() => this.last) : this.last;
    if (current === this.last) await this.clip.writeText("");
    this.last = "";
  }
}
