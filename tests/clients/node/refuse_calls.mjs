// refuse_calls.mjs BASE_URL deny|allow — the official openai and
// @anthropic-ai/sdk clients, unmodified and with their default retries
// (maxRetries 2), against tools/fake-llm-provider over plain HTTP;
// tests/e2e/shim_node_enforce.sh runs it under the shim with a policy.
// One JSON line per call on stdout, for the test to hold exactly:
//   deny:  openai chat, openai chat stream, anthropic messages; each
//          call's error as the SDK raised it (its class, status, parsed
//          error fields and the refusal's headers), or "error": null
//          when the call went through.
//   allow: openai chat; the model and usage as the SDK parsed them.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const [base, mode] = process.argv.slice(2);
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "sk-fake" });
const anthropic = new Anthropic({ baseURL: base, apiKey: "sk-ant-fake" });

const ask = (text) => [{ role: "user", content: text }];

function headers(err) {
	return { should_retry: err.headers?.get("x-should-retry") ?? null,
		rule: err.headers?.get("x-tollgate-rule") ?? null,
		connection: err.headers?.get("connection") ?? null };
}

// Only the SDK's own 429 class passes; anything else is printed as what
// it is, so the test names it.
function openaiError(err) {
	return { error: err.constructor.name,
		rate_limit_error: err instanceof OpenAI.RateLimitError,
		status: err.status ?? null, type: err.type ?? null,
		code: err.code ?? null, param: err.param ?? null,
		message: err.message, api_message: err.error?.message ?? null,
		...headers(err) };
}

function anthropicError(err) {
	return { error: err.constructor.name,
		rate_limit_error: err instanceof Anthropic.RateLimitError,
		status: err.status ?? null, type: err.type ?? null,
		body_type: err.error?.type ?? null, message: err.message,
		api_message: err.apiMessage ?? null, ...headers(err) };
}

async function refused(call, describe, f) {
	try {
		await f();
		console.log(JSON.stringify({ call, error: null }));
	} catch (err) {
		console.log(JSON.stringify({ call, ...describe(err) }));
	}
}

async function deny() {
	await refused("openai chat", openaiError, () =>
		openai.chat.completions.create({ model: "gpt-4o",
			max_tokens: 50, messages: ask("refuse me, node") }));
	// The 429 comes before any chunk: create() itself rejects.
	await refused("openai chat stream", openaiError, async () => {
		const s = await openai.chat.completions.create({ model: "gpt-4o",
			max_tokens: 50, stream: true,
			stream_options: { include_usage: true },
			messages: ask("refuse my stream, node") });
		for await (const c of s)
			;
	});
	await refused("anthropic messages", anthropicError, () =>
		anthropic.messages.create({ model: "claude-sonnet-4-20250514",
			max_tokens: 100, messages: ask("refuse me too, node") }));
}

async function allow() {
	const r = await openai.chat.completions.create({ model: "gpt-4o",
		max_tokens: 50, messages: ask("let me through, node") });
	console.log(JSON.stringify({ call: "openai chat", api: "chat.completions",
		model: r.model, usage: r.usage }));
}

if (mode === "deny")
	await deny();
else if (mode === "allow")
	await allow();
else
	throw new Error("usage: refuse_calls.mjs BASE_URL deny|allow");
