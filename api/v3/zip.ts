import type { Response } from "express";
import { Zip, ZipDeflate } from "fflate";

// A zip written as it is read: entries and their text come from async generators (a batch
// of log chunks at a time), so neither the archive nor a whole log is held in memory. A
// client that takes nothing for `stallMs` is cut, as a text log's reader is.

export interface ZipEntry {
  name: string;
  chunks: AsyncIterable<string>;
}

export async function streamZip(res: Response, entries: AsyncIterable<ZipEntry>, stallMs: number): Promise<void> {
  let failed: Error | null = null;
  let blocked = false;
  const zip = new Zip((err, data, final) => {
    if (err) failed = err;
    else if (!res.destroyed && !res.write(Buffer.from(data))) blocked = true;
    if (final && !res.destroyed) res.end();
  });
  const drained = () => new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), stallMs);
    const done = (ok: boolean) => { clearTimeout(timer); res.off("drain", onDrain); res.off("close", onClose); resolve(ok); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
  const text = new TextEncoder();
  for await (const e of entries) {
    const file = new ZipDeflate(e.name, { level: 6 });
    zip.add(file);
    for await (const c of e.chunks) {
      file.push(text.encode(c));
      if (failed) throw failed;
      if (blocked) {
        blocked = false;
        if (!(await drained())) return void res.destroy();
      }
    }
    file.push(new Uint8Array(0), true);
  }
  zip.end();
  if (failed) throw failed;
}
