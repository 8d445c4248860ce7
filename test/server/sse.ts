/** A small SSE reader for tests: frames as they arrive over a real connection. */
export interface SseFrame {
  id?: string;
  event: string;
  data: any;
  comment?: string;
}

/** Open `url` and yield its SSE frames (comments too); `abort` cuts the connection. */
export async function* sse(url: string | Response | Promise<Response>, init: RequestInit = {}): AsyncGenerator<SseFrame> {
  const res = typeof url === "string" ? await fetch(url, init) : await url;
  if (!res.ok) throw new Error(`GET ${res.url}: ${res.status} ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f: SseFrame = { event: "message", data: undefined };
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) f.comment = line.slice(1).trim();
          else {
            const j = line.indexOf(":");
            const key = line.slice(0, j);
            const v = line.slice(j + 1).replace(/^ /, "");
            if (key === "id") f.id = v;
            else if (key === "event") f.event = v;
            else if (key === "data") f.data = JSON.parse(v);
          }
        }
        yield f;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
