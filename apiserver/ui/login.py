"""Logging in to the dashboard: with an API token, or a one-time link from `dlxc dashboard`; logging out."""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from apiserver.ui.responses import secured
from apiserver.ui.session import COOKIE, Authenticate, LoginLinks, identify
from dlxc.client.errors import Unauthorized

__all__ = ["login_routes", "safe_next"]


def login_routes(*, render: Callable[..., str], links: LoginLinks, authenticate: Authenticate) -> list[Route]:
    async def login_form(request: Request) -> Response:
        code = request.query_params.get("code")
        target = safe_next(request.query_params.get("next"))
        if code:
            token = links.redeem(code)
            if token is None:
                return login_page("this login link is used up or expired; run `dlxc dashboard` again", 401, target)
            return logged_in(token, target)
        return login_page("", 200, target)

    def login_page(message: str, status: int, target: str) -> HTMLResponse:
        return secured(HTMLResponse(render("login.html", message=message, next=target), status_code=status))

    def logged_in(token: str, target: str) -> Response:
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="strict", path="/ui")
        return secured(response)

    async def login(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "").strip()
        target = safe_next(str(form.get("next") or ""))
        try:
            await identify(authenticate, token)
        except Unauthorized:
            return login_page("that token is not valid", 401, target)
        return logged_in(token, target)

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path="/ui", httponly=True, secure=True, samesite="strict")
        return response

    async def login_link(request: Request) -> Response:
        """For `dlxc dashboard`: the bearer token buys a one-time link that logs a browser in with it."""
        header = request.headers.get("authorization") or ""
        try:
            await identify(authenticate, header.removeprefix("Bearer ").strip())
        except Unauthorized as exc:
            return JSONResponse(exc.to_body(), status_code=401)
        code = links.issue(header.removeprefix("Bearer ").strip())
        return JSONResponse({"path": f"/ui/login?{urlencode({'code': code})}", "expiresInSeconds": int(links.ttl)})

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/login-link", login_link, methods=["POST"]),
    ]


def safe_next(value: str | None) -> str:
    """Where to go after login: only a dashboard path of this server, never another site."""
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"
