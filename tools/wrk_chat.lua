-- wrk_chat.lua — what tools/bench's "shim http" section has wrk send: a
-- small non-stream OpenAI chat completion, the same bytes every time, on
-- keep-alive connections. No gzip (no Accept-Encoding): the figures are
-- the hooks' and the parser's, not zlib's.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","max_tokens":16,' ..
	'"messages":[{"role":"user","content":"Say hi to the meter"}]}'
