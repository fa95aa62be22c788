"""The `ai_agent` node: one chat completion from an OpenAI-compatible endpoint.

The endpoint is configured on the worker, never in the graph: `QUEUEFLEET_GRAPHS_AI_BASE_URL`
(e.g. `https://api.openai.com/v1`; its host must be on the HTTP allow-list like every
other outbound call), the key in `QUEUEFLEET_GRAPHS_AI_API_KEY` or a mounted file named by
`QUEUEFLEET_GRAPHS_AI_API_KEY_FILE`, and an optional default model in
`QUEUEFLEET_GRAPHS_AI_MODEL`. The graph gives the prompt and system message (templates),
model and temperature. 429 and 5xx answers are retried by the node's Temporal retry policy
(honouring Retry-After); other errors fail the node with the service's message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .limits import fit_result

__all__ = [
    "AI_CHAT_ACTIVITY",
    "ENV_AI_API_KEY",
    "ENV_AI_API_KEY_FILE",
    "ENV_AI_BASE_URL",
    "ENV_AI_MODEL",
    "AiActivities",
    "AiEndpoint",
    "AiSettingsError",
    "ChatRequest",
    "ai_endpoint_from",
    "chat_request",
]

AI_CHAT_ACTIVITY: Final = "graphs.ai_chat"
ENV_AI_BASE_URL: Final = "QUEUEFLEET_GRAPHS_AI_BASE_URL"
ENV_AI_API_KEY: Final = "QUEUEFLEET_GRAPHS_AI_API_KEY"
ENV_AI_API_KEY_FILE: Final = "QUEUEFLEET_GRAPHS_AI_API_KEY_FILE"
ENV_AI_MODEL: Final = "QUEUEFLEET_GRAPHS_AI_MODEL"
_RETRYABLE_STATUS: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_SECONDS: Final = 300.0
_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024  # read no more of an answer than this


class AiSettingsError(ValueError):
    """A `QUEUEFLEET_GRAPHS_AI_*` variable is malformed; the message names it."""


@dataclass(frozen=True)
class AiEndpoint:
    base_url: str
    api_key: str | None = None
    api_key_file: Path | None = None
    default_model: str = ""

    @property
    def completions_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"

    def read_api_key(self) -> str:
        if self.api_key_file is not None:
            return self.api_key_file.read_text().strip()
        return self.api_key or ""

    def __repr__(self) -> str:  # keeps the key out of logs and tracebacks
        return f"AiEndpoint(base_url={self.base_url!r}, default_model={self.default_model!r})"


def ai_endpoint_from(environ: Mapping[str, str]) -> AiEndpoint | None:
    """The configured endpoint; None when the worker runs no `ai_agent` nodes."""
    base_url = environ.get(ENV_AI_BASE_URL, "").strip()
    if not base_url:
        return None
    if not base_url.startswith(("http://", "https://")):
        raise AiSettingsError(f"{ENV_AI_BASE_URL} must be an http(s) URL, got {base_url!r}")
    key_file = environ.get(ENV_AI_API_KEY_FILE, "").strip()
    if key_file and environ.get(ENV_AI_API_KEY):
        raise AiSettingsError(f"set {ENV_AI_API_KEY} or {ENV_AI_API_KEY_FILE}, not both")
    if key_file and not Path(key_file).is_file():
        raise AiSettingsError(f"{ENV_AI_API_KEY_FILE}: {key_file!r} is not a readable file")
    return AiEndpoint(
        base_url=base_url,
        api_key=environ.get(ENV_AI_API_KEY) or None,
        api_key_file=Path(key_file) if key_file else None,
        default_model=environ.get(ENV_AI_MODEL, "").strip(),
    )


@dataclass
class ChatRequest:
    node: str
    prompt: str
    system: str | None = None
    model: str = ""  # empty: the worker's default model
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: str = "text"  # text or json
    timeout_seconds: float = 60.0
    max_result_bytes: int = 16 * 1024


class AiActivities:
    def __init__(self, *, endpoint: AiEndpoint | None, host_allowed: Any) -> None:
        self.endpoint = endpoint
        self.host_allowed = host_allowed  # callable(url) -> bool: the worker's allow-list

    @activity.defn(name=AI_CHAT_ACTIVITY)
    async def ai_chat(self, request: ChatRequest) -> dict[str, Any]:
        endpoint = self._endpoint(request.node)
        model = request.model or endpoint.default_model
        if not model:
            raise ApplicationError(
                f"node {request.node!r}: no 'model' given and {ENV_AI_MODEL} is not set",
                type="AiNotConfigured",
                non_retryable=True,
            )
        messages = [{"role": "user", "content": request.prompt}]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        body: dict[str, Any] = {"model": model, "messages": messages}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.response_format == "json":
            body["response_format"] = {"type": "json_object"}
        try:
            api_key = endpoint.read_api_key()
        except OSError as error:
            raise ApplicationError(
                f"node {request.node!r}: cannot read {ENV_AI_API_KEY_FILE}: {error.strerror}",
                type="AiNotConfigured",
            ) from None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        status, retry_after, payload = await _post(
            endpoint.completions_url, headers, json.dumps(body).encode(), request.timeout_seconds
        )
        if status != 200:
            raise _status_error(request.node, status, retry_after, payload)
        return _answer(request, payload)

    def _endpoint(self, node: str) -> AiEndpoint:
        if self.endpoint is None:
            raise ApplicationError(
                f"node {node!r}: no AI endpoint is configured on this worker "
                f"(set {ENV_AI_BASE_URL})",
                type="AiNotConfigured",
                non_retryable=True,
            )
        if not self.host_allowed(self.endpoint.completions_url):
            raise ApplicationError(
                f"node {node!r}: the AI endpoint {self.endpoint.base_url!r} is not on the "
                "worker's HTTP allow-list",
                type="HostNotAllowed",
                non_retryable=True,
            )
        return self.endpoint


async def _post(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,  # noqa: ASYNC109 (passed to aiohttp's own ClientTimeout)
) -> tuple[int, str | None, Any]:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(
                trust_env=False, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.post(url, headers=dict(headers), data=body, allow_redirects=False) as response,
        ):
            raw = await response.content.read(_MAX_RESPONSE_BYTES)
            status, retry_after = response.status, response.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ApplicationError(
            f"POST {url} failed: {error or type(error).__name__}", type="AiUnavailable"
        ) from error
    text = raw.decode("utf-8", "replace")
    try:
        return status, retry_after, json.loads(text) if text else None
    except ValueError:
        return status, retry_after, text


def _status_error(
    node: str, status: int, retry_after: str | None, payload: Any
) -> ApplicationError:
    detail = ""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        detail = str(payload["error"].get("message", ""))[:500]
    elif isinstance(payload, str):
        detail = payload[:200]
    message = f"node {node!r}: the AI endpoint returned HTTP {status}" + (
        f": {detail}" if detail else ""
    )
    if status not in _RETRYABLE_STATUS:
        return ApplicationError(message, type="AiStatus", non_retryable=True)
    delay = None
    if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
        delay = timedelta(seconds=min(float(retry_after), _MAX_RETRY_AFTER_SECONDS))
    return ApplicationError(message, type="AiStatus", next_retry_delay=delay)


def _answer(request: ChatRequest, payload: Any) -> dict[str, Any]:
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ApplicationError(
            f"node {request.node!r}: the AI endpoint's answer has no choices[0].message.content",
            type="AiBadAnswer",
            non_retryable=True,
        ) from None
    text = "" if text is None else str(text)
    result: dict[str, Any] = {
        "text": text,
        "model": payload.get("model", request.model),
        "finish_reason": choice.get("finish_reason"),
        "usage": payload.get("usage") or {},
    }
    if request.response_format == "json":
        try:
            result["json"] = json.loads(text)
        except json.JSONDecodeError as error:
            raise ApplicationError(
                f"node {request.node!r}: response_format is json, but the answer is not JSON "
                f"({error.msg} at position {error.pos})",
                type="AiBadAnswer",
                non_retryable=True,
            ) from None
    if len(text) > request.max_result_bytes:
        # the text alone may not crowd out the rest; the full answer's hash stays checkable
        result["text"] = text[: request.max_result_bytes // 2]
        result["text_truncated"] = True
    fitted: dict[str, Any] = fit_result(result, request.max_result_bytes)
    return fitted


def chat_request(
    node: str, spec: Mapping[str, Any], scope: Mapping[str, Any], *, max_result_bytes: int
) -> ChatRequest:
    """The activity input for a validated `ai_agent` node, templates rendered (workflow side)."""
    from .expressions import render

    def text(key: str) -> str | None:
        if key not in spec:
            return None
        value = render(spec[key], dict(scope))
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    return ChatRequest(
        node=node,
        prompt=text("prompt") or "",
        system=text("system"),
        model=str(spec.get("model", "")),
        temperature=float(spec["temperature"]) if "temperature" in spec else None,
        max_tokens=int(spec["max_tokens"]) if "max_tokens" in spec else None,
        response_format=str(spec.get("response_format", "text")),
        timeout_seconds=float(spec.get("timeout_seconds", 60.0)),
        max_result_bytes=max_result_bytes,
    )
