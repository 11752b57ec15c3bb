// HeyClaw's OpenClaw plugin: the system prompt of a turn without the
// sections a phone chat with one person never uses (coding-agent and
// Control UI guidance, OpenClaw's documentation links, cross-session
// messaging, media directives). What stays: tooling, safety, the
// workspace and its files, the date, silent replies, the model identity.
// docs/gateway-scale.md has the measurements.

// Sections OpenClaw writes before the workspace files ("# Project Context").
const BEFORE_FILES = new Set([
  "## Interaction Style",
  "## Tool Call Style",
  "## Execution Bias",
  "## Promised Work",
  "## Runtime Context",
  "## OpenClaw Control",
  "## Documentation",
]);
// The behaviour contract OpenClaw adds for any gpt-5 model id.
const CONTRACT_TAGS = new Set([
  "<persona_latch>",
  "<execution_policy>",
  "<tool_discipline>",
  "<output_contract>",
  "<completion_contract>",
]);
// Sections OpenClaw writes after the workspace files ("## Temporal Context").
const AFTER_FILES = new Set(["## Assistant Output Directives", "## Messaging"]);

/** `text` without the sections whose heading line is in `drop`. */
function withoutSections(text, drop) {
  let skipping = false;
  return text
    .split("\n")
    .filter((line) => {
      if (/^#{1,2} /.test(line) || line.startsWith("<!-- ")) {
        skipping = drop.has(line.trimEnd());
      } else if (/^<[a-z_]+>$/.test(line)) {
        skipping = CONTRACT_TAGS.has(line);
      }
      return !skipping;
    })
    .join("\n");
}

/**
 * The prompt with those sections left out. The user's own files sit
 * between "# Project Context" and the last "## Temporal Context" and are
 * never touched, whatever headings they hold. A prompt of another shape is
 * left as it is (null).
 */
export function trimSystemPrompt(prompt) {
  if (typeof prompt !== "string") return null;
  const files = prompt.indexOf("\n# Project Context\n");
  const after = prompt.lastIndexOf("\n## Temporal Context\n");
  if (after < 0) return null;
  if (files < 0) {
    return withoutSections(prompt, new Set([...BEFORE_FILES, ...AFTER_FILES]));
  }
  if (after < files) return null;
  return (
    withoutSections(prompt.slice(0, files), BEFORE_FILES) +
    prompt.slice(files, after) +
    withoutSections(prompt.slice(after), AFTER_FILES)
  );
}

export default {
  id: "heyclaw-prompt",
  register(api) {
    api.registerProvider({
      id: "openai-custom",
      label: "OpenAI-compatible (HeyClaw)",
      auth: [],
      transformSystemPrompt: (context) => trimSystemPrompt(context.systemPrompt),
    });
  },
};
