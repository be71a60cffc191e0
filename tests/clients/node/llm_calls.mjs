// llm_calls.mjs BASE_URL — the official openai and @anthropic-ai/sdk
// clients, unmodified, against tools/fake-llm-provider over plain HTTP
// (tests/e2e/shim_node.sh runs it under the shim). One JSON line per call
// on stdout: the call's name, its API and the model and usage exactly as
// the SDK parsed them, for the test to hold against the ledger.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const base = process.argv[2];
// No retries: a retried request would be a second exchange to meter.
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "sk-fake",
	maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: base, apiKey: "sk-ant-fake",
	maxRetries: 0 });

function report(call, api, model, usage) {
	if (usage == null)
		throw new Error(call + ": the SDK parsed no usage");
	console.log(JSON.stringify({ call, api, model, usage }));
}

const ask = (text) => [{ role: "user", content: text }];

async function chat() {
	const r = await openai.chat.completions.create({ model: "gpt-4o",
		messages: ask("count the tokens, node") });
	report("openai chat", "chat.completions", r.model, r.usage);
}

// The usage is in the last chunk, the one with "choices": [].
async function chatStream() {
	const s = await openai.chat.completions.create({ model: "o3",
		stream: true, stream_options: { include_usage: true },
		messages: ask("think, then stream") });
	let model = null, usage = null;
	for await (const c of s) {
		model = c.model;
		if (c.usage != null)
			usage = c.usage;
	}
	report("openai chat stream", "chat.completions", model, usage);
}

async function responses() {
	const r = await openai.responses.create({ model: "gpt-4o-mini",
		input: "a response, please" });
	report("openai responses", "responses", r.model, r.usage);
}

async function responsesStream() {
	const s = await openai.responses.create({ model: "o3", stream: true,
		input: "a streamed response, please" });
	let done = null;
	for await (const e of s)
		if (e.type === "response.completed")
			done = e.response;
	report("openai responses stream", "responses", done?.model, done?.usage);
}

async function messages() {
	const r = await anthropic.messages.create({
		model: "claude-sonnet-4-20250514", max_tokens: 300,
		messages: ask("hello from node") });
	report("anthropic messages", "messages", r.model, r.usage);
}

// finalMessage() is message_start's usage updated by message_delta's
// cumulative output_tokens, as the SDK itself folds the stream.
async function messagesStream() {
	const s = anthropic.messages.stream({ model: "claude-opus-4-1",
		max_tokens: 300, messages: ask("stream hello from node") });
	const m = await s.finalMessage();
	report("anthropic messages stream", "messages", m.model, m.usage);
}

for (const f of [chat, chatStream, responses, responsesStream, messages,
    messagesStream])
	await f();
