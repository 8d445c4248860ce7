/**
 * Text from workflows (event data, results, errors, names) is untrusted: control characters in
 * it could move the cursor, recolour or retitle the user's terminal. Everything the command
 * prints from such text goes through here.
 */

// C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), and the bidi
// overrides that can make printed text read differently from what it is.
/* eslint-disable no-control-regex -- matching control characters is the point here */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */
const escape = (c: string): string => {
  if (c === "\n") return "\\n";
  if (c === "\t") return "\\t";
  if (c === "\r") return "\\r";
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
};

/** `text` with control characters shown as `\u001b` escapes; newlines and tabs kept unless `oneLine`. */
export function clean(text: string, oneLine = false): string {
  return text.replace(oneLine ? UNSAFE_OR_NEWLINE : UNSAFE, escape);
}

/**
 * JSON text with the characters JSON.stringify leaves raw (DEL, C1, bidi overrides) escaped
 * too: still valid JSON meaning the same value.
 */
export function cleanJson(json: string): string {
  return json.replace(UNSAFE_OR_NEWLINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
