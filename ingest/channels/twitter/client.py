"""The X API client of the X channel: tweepy, our gateway adapter, and its errors.

`make_client` builds a tweepy client that never sleeps on its own and sends every request
with a timeout (to `api_base` when set); `call` turns every failure into one of the errors
below, named by what the caller does. The pollers and the acknowledger call the API only here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.settings import TwitterSettings, secret

X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")


# --- errors, named by what the caller does ---------------------------------------------------


class RateLimited(TemporaryError):
    def __init__(self, message: str, reset_at: float | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at  # epoch seconds of `x-rate-limit-reset`, when given


class Unavailable(TemporaryError):
    """5xx, a timeout or a refused connection."""


class BadResponse(TemporaryError):
    """The API answered something that is not the documented JSON."""


class Unauthorized(PermanentError):
    """401: the token is revoked or wrong."""


class Forbidden(PermanentError):
    """403: the access tier or the account does not allow this."""


class Refused(PermanentError):
    """Another 4xx: the request itself is refused (e.g. replying to a deleted post)."""


class NotConfigured(ConfigError):
    """A key the X channel needs is not set (`[twitter]` user_id, or the *_env secrets)."""


# --- the client ------------------------------------------------------------------------------


class GatewayAdapter(HTTPAdapter):
    """Sends every X API request with a timeout, to `api_base` instead of X when set."""

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        self.api_base, self.timeout = api_base.rstrip("/") + "/" if api_base else "", timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = request.url or ""
        for host in X_HOSTS:
            if self.api_base and url.startswith(host):
                request.url = self.api_base + url[len(host) :]
        # tweepy passes no timeout; every socket has its own
        return super().send(
            request, stream=stream, timeout=self.timeout, verify=verify, cert=cert, proxies=proxies
        )


def make_client(settings: TwitterSettings) -> tweepy.Client:
    """A tweepy client that never sleeps on its own (we handle 429) and returns plain JSON."""
    client = tweepy.Client(
        bearer_token=secret(settings.bearer_token_env),
        consumer_key=secret(settings.consumer_key_env),
        consumer_secret=secret(settings.consumer_secret_env),
        access_token=secret(settings.access_token_env),
        access_token_secret=secret(settings.access_token_secret_env),
        return_type=dict,
        wait_on_rate_limit=False,
    )
    adapter = GatewayAdapter(settings.api_base, settings.timeout_seconds)
    for host in X_HOSTS:
        client.session.mount(host, adapter)
    if settings.api_base:
        client.session.trust_env = False  # the gateway is the proxy: no *_PROXY detour
    return client


def has_user_context(client: tweepy.Client) -> bool:
    """OAuth 1.0a user context is needed for replies and DMs (docs: "Authentication")."""
    return all(
        (
            client.consumer_key,
            client.consumer_secret,
            client.access_token,
            client.access_token_secret,
        )
    )


def call(what: str, method: Callable[..., Any], /, **params: Any) -> dict[str, Any]:
    """Call the X API; every failure becomes one of the errors above, with a one-line text."""
    try:
        answer = method(**params)
    except tweepy.TooManyRequests as exc:
        raise RateLimited(f"{what}: 429 rate limited", exc.reset_time) from None
    except tweepy.Unauthorized as exc:
        raise Unauthorized(f"{what}: {_first_line(exc)} (token revoked or invalid)") from None
    except tweepy.Forbidden as exc:
        raise Forbidden(f"{what}: {_first_line(exc)}") from None
    except tweepy.TwitterServerError as exc:
        raise Unavailable(f"{what}: {_first_line(exc)}") from None
    except tweepy.HTTPException as exc:
        raise Refused(f"{what}: {_first_line(exc)}") from None
    except requests.Timeout:
        raise Unavailable(f"{what}: no answer within the timeout") from None
    except requests.ConnectionError as exc:
        raise Unavailable(f"{what}: cannot connect ({type(exc).__name__})") from None
    except (ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise BadResponse(f"{what}: malformed JSON from the X API ({exc})") from None
    if not isinstance(answer, dict):
        raise BadResponse(f"{what}: the X API answered a {type(answer).__name__}, not an object")
    return answer


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
