"""llama-cpp-python's OpenAI-compatible server with a chat handler that behaves like OpenAI for tool calling.

Run with the model server venv's python (record.sh makes it):
    python serve.py --model X.gguf --chat_format chatml-function-calling-openai ...
(all llama_cpp.server options are accepted unchanged).

The stock ``chatml-function-calling`` handler of llama-cpp-python 0.3.36 differs from the OpenAI API in ways that
break a LangChain client (ChatOpenAI.bind_tools, as madagents uses it): with (1) it never sees a tool call.

1. ``tool_choice`` absent means "ignore the tools" (Case 1 of the handler); OpenAI's default with tools is
   "auto". Here: absent + tools given -> "auto".
2. messages of role ``tool`` (tool results) are silently dropped by its prompt template, so the model never sees
   a tool's answer or an "Error: ..." it could correct. Here: rendered as a user turn "Result of <tool>: ...".
3. with "auto", a text answer is generated under the follow-up grammar ``functions.X: | <|im_end|>``, so its
   content is always empty. Here: when the model chose to answer in text, the text is regenerated without tools.
4. streaming + "auto" + a tool call raises "Automatic streaming tool choice is not supported" (HTTP 500), and a
   streamed request that fails (a prompt longer than the context) gets HTTP 200 and a stream that ends with no
   chunk, because the server calls the model only after sending its headers. Here: a streamed answer is computed
   without streaming and sent as two chunks (delta + finish, with usage); a failure is sent as OpenAI sends one
   mid-stream, an event ``{"error": {"message": ...}}``, which the openai client raises as an APIError.
5. a JSON-schema ``pattern`` with a regex escape such as ``\\w`` becomes GBNF that llama.cpp cannot parse; the
   sampler is then NULL, nothing checks it, and the server segfaults (libllama.so) on the tool's arguments.
   Here: ``\\w``, ``\\d``, ``\\s`` in patterns are spelled as character classes, and if a tool's grammar still
   does not parse, its patterns are dropped (then, as a last resort, its schema becomes "any JSON object").
6. tool-call ids carry a random uuid (``call__0_NAME_cmpl-<uuid>``). Here: ``call_<n>_<i>_NAME`` with n the number
   of messages in the request (unique within a conversation), so re-recording an unchanged session gives an
   identical cassette.

Nothing else is changed: same prompt template, same grammars, greedy decoding when the client asks temperature 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import llama_cpp
import llama_cpp.llama_chat_format as chat_format
from llama_cpp.llama_grammar import json_schema_to_gbnf
from llama_cpp.server.__main__ import main

_base = chat_format.chatml_function_calling


def _messages_with_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call.get("id", "")] = call.get("function", {}).get("name", "tool")
        if message.get("role") == "tool":
            name = names.get(message.get("tool_call_id", ""), "tool")
            content = message.get("content")
            if not isinstance(content, str):
                content = json.dumps(content)
            out.append({"role": "user", "content": f"Result of {name}: {content}"})
        elif message.get("role") == "assistant" and message.get("tool_calls"):
            # the template prints content *and* calls; a blank content (" ") only adds noise
            copy = dict(message)
            if not (copy.get("content") or "").strip():
                copy["content"] = None
            out.append(copy)
        else:
            out.append(message)
    return out


_ESCAPES = {r"\w": "[A-Za-z0-9_]", r"\d": "[0-9]", r"\s": "[ \t\n\r]"}


def _map_patterns(schema: Any, fix: Any) -> Any:
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            is_pattern = key == "pattern" and isinstance(value, str)
            mapped = fix(value) if is_pattern else value
            if is_pattern and mapped is None:  # a pattern llama.cpp's grammar cannot express is dropped
                continue
            out[key] = _map_patterns(mapped, fix)
        return out
    if isinstance(schema, list):
        return [_map_patterns(item, fix) for item in schema]
    return schema


def _spell_escapes(pattern: str) -> str:
    for escape, chars in _ESCAPES.items():
        pattern = pattern.replace(escape, chars)
    return pattern


def _grammar_parses(llama: Any, schema: Any) -> bool:
    try:
        gbnf = json_schema_to_gbnf(json.dumps(schema))
    except Exception:
        return False
    sampler = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, gbnf.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


_checked: dict[str, Any] = {}


def _parseable_tools(llama: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fixed = []
    for tool in tools:
        params = tool.get("function", {}).get("parameters")
        if params is None:
            fixed.append(tool)
            continue
        key = json.dumps(params, sort_keys=True)
        if key not in _checked:
            candidates = [params, _map_patterns(params, _spell_escapes), _map_patterns(params, lambda _: None)]
            _checked[key] = next((c for c in candidates if _grammar_parses(llama, c)), {"type": "object"})
            if _checked[key] is not params:
                print(
                    f"serve.py: tool {tool['function'].get('name')}: schema adapted for llama.cpp's grammar",
                    file=sys.stderr,
                )
        fixed.append({**tool, "function": {**tool["function"], "parameters": _checked[key]}})
    return fixed


def _as_stream(response: dict[str, Any]):  # type: ignore[no-untyped-def]
    choice = response["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [
            {"index": i, "id": call["id"], "type": "function", "function": call["function"]}
            for i, call in enumerate(message["tool_calls"])
        ]
    base = {
        "id": response["id"],
        "object": "chat.completion.chunk",
        "created": response.get("created", int(time.time())),
        "model": response["model"],
    }
    yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
    yield {
        **base,
        "choices": [
            {"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop", "logprobs": None}
        ],
        "usage": response.get("usage"),
    }


@chat_format.register_chat_completion_handler("chatml-function-calling-openai")
def chatml_function_calling_openai(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    tools = kwargs.get("tools")
    if tools and kwargs.get("tool_choice") is None and kwargs.get("function_call") is None:
        kwargs["tool_choice"] = "auto"
    kwargs["messages"] = _messages_with_tool_results(list(kwargs.get("messages") or []))
    if tools:
        kwargs["tools"] = _parseable_tools(kwargs["llama"], list(tools))
    stream = bool(kwargs.pop("stream", False))
    if not stream:
        return _answer(*args, **kwargs)
    try:
        return _as_stream(_answer(*args, **kwargs))
    except ValueError as exc:  # (4) llama-cpp-python's error for a prompt over the context, say
        return iter([{"error": {"message": str(exc), "type": "invalid_request_error", "code": None}}])


def _answer(*args: Any, **kwargs: Any) -> dict[str, Any]:
    if not (kwargs.get("tools") and kwargs.get("tool_choice") == "auto"):
        return _base(*args, stream=False, **kwargs)  # type: ignore[no-any-return]
    response = _base(*args, stream=False, **kwargs)
    message = response["choices"][0]["message"]
    if not message.get("tool_calls") and not (message.get("content") or "").strip():
        # (3): the model chose "message:"; let it write the message without the follow-up grammar
        response = _base(*args, stream=False, **{**kwargs, "tool_choice": "none"})
    _number_calls(response, len(kwargs["messages"]))
    _log(kwargs, response)
    return response  # type: ignore[no-any-return]


def _number_calls(response: dict[str, Any], n_messages: int) -> None:
    for i, call in enumerate(response["choices"][0]["message"].get("tool_calls") or []):
        call["id"] = f"call_{n_messages}_{i}_{call['function']['name']}"


def _log(kwargs: dict[str, Any], response: dict[str, Any]) -> None:
    """SERVE_LOG=FILE: one JSON line per answer (what the model said, raw, before any client parses it)."""
    path = os.environ.get("SERVE_LOG")
    if path:
        with open(path, "a") as log:
            entry = {
                "messages": len(kwargs.get("messages") or []),
                "usage": response.get("usage"),
                "message": response["choices"][0]["message"],
            }
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
