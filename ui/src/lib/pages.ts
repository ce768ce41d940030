/** The item list's data: a search's results fetched a page at a time as rows scroll into
 * view, so a 100k-item vault needs only what is on screen. */
export interface Page<T> {
  total: number;
  items: T[];
}

export class PagedList<T> {
  total = 0;
  private pages = new Map<number, T[]>();
  private loading = new Map<number, Promise<void>>();

  constructor(
    private fetch: (offset: number, limit: number) => Promise<Page<T>>,
    public pageSize = 100,
  ) {}

  /** Loads the first page (and learns the total). */
  async start(): Promise<void> {
    await this.load(0);
  }

  private load(page: number): Promise<void> {
    const existing = this.loading.get(page);
    if (existing) return existing;
    const p = this.fetch(page * this.pageSize, this.pageSize).then((r) => {
      this.total = r.total;
      this.pages.set(page, r.items);
    });
    this.loading.set(page, p);
    return p;
  }

  /** The row at `index`, if its page is loaded. */
  row(index: number): T | undefined {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** The rows a viewport scrolled to `scrollTop` shows (with overscan), loaded first. */
  async inView(scrollTop: number, height: number, rowHeight: number): Promise<{ index: number; item: T | undefined }[]> {
    const { first, last } = visibleRange(scrollTop, height, rowHeight, this.total);
    await this.ensure(first, last);
    return Array.from({ length: last - first }, (_, i) => ({ index: first + i, item: this.row(first + i) }));
  }

  /** Makes sure rows `from..to` are loaded; resolves when they are. */
  async ensure(from: number, to: number): Promise<void> {
    const first = Math.floor(Math.max(0, from) / this.pageSize);
    const last = Math.floor(Math.max(0, Math.min(to, this.total - 1)) / this.pageSize);
    const waits: Promise<void>[] = [];
    for (let p = first; p <= last; p++) if (!this.pages.has(p)) waits.push(this.load(p));
    await Promise.all(waits);
  }
}

/** Which rows a viewport shows: `[first, last)`, with some overscan. */
export function visibleRange(scrollTop: number, height: number, rowHeight: number, total: number, overscan = 5) {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return { first, last };
}
