// The browser terminal: trade the link's one-time token (in the URL's fragment) for a session,
// then speak v5.channel.k8s.io to the apiserver's exec stream (a login shell with a TTY).
// Channels: 0 stdin, 1 stdout, 2 stderr, 3 final status (JSON), 4 resize {"Width","Height"}.
// The dashboard's terminal tab uses the same connection (window.dlxcTerminal.connect) with a session
// the dashboard made for its admin; the standalone page (/terminal/) starts from a link.
"use strict";
(function () {
  const STDIN = 0, STDOUT = 1, STDERR = 2, STATUS = 3, RESIZE = 4;
  const state = document.getElementById("state");
  const title = document.getElementById("title");
  const encoder = new TextEncoder();

  function refuse(message) {
    document.getElementById("terminal").hidden = true;
    document.getElementById("reason").textContent = message;
    document.getElementById("refused").hidden = false;
    state.textContent = "Refused";
    document.title = "dlxc terminal: refused";
  }

  function frame(channel, payload) {
    const out = new Uint8Array(payload.length + 1);
    out[0] = channel;
    out.set(payload, 1);
    return out;
  }

  function ended(status) {
    if (status.status === "Success") return "the shell exited";
    const causes = (status.details && status.details.causes) || [];
    const code = causes.find((c) => c.reason === "ExitCode");
    if (code) return "the shell exited with code " + code.message;
    return status.message || "the session ended";
  }

  async function start() {
    const token = decodeURIComponent(location.hash.replace(/^#/, ""));
    // The token is spent by the exchange below: take it out of the address bar and history.
    history.replaceState(null, "", location.pathname);
    if (!token) {
      refuse("This address carries no terminal link. Ask an admin for one: dlxc terminal NAME.");
      return;
    }
    let answer;
    try {
      const response = await fetch("/terminal/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: token }),
        cache: "no-store",
        credentials: "omit",
      });
      answer = await response.json();
      if (!response.ok) {
        refuse(answer.message || "The apiserver refused this link (HTTP " + response.status + ").");
        return;
      }
    } catch (error) {
      refuse("Cannot reach the apiserver: " + error);
      return;
    }
    open(answer);
  }

  // A terminal in `element` on the session `answer` (from /terminal/session); `hooks.state(text)` and
  // `hooks.refuse(message)` report; returns {close} (closing the socket ends the shell).
  function connect(element, answer, hooks) {
    const term = new Terminal({ cursorBlink: true, convertEol: false, screenReaderMode: true });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(element);
    fit.fit();

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = "?width=" + term.cols + "&height=" + term.rows;
    const socket = new WebSocket(scheme + "//" + location.host + "/terminal/stream" + query,
      ["v5.channel.k8s.io", "dlxc.terminal.session." + answer.session]);
    socket.binaryType = "arraybuffer";
    let finished = false, received = false;

    socket.onopen = function () {
      hooks.state("Connected to " + answer.container);
      term.focus();
    };
    socket.onmessage = function (event) {
      const data = new Uint8Array(event.data);
      if (data.length === 0) return;
      const payload = data.subarray(1);
      if (data[0] === STDOUT || data[0] === STDERR) {
        received = true;
        term.write(payload);
      } else if (data[0] === STATUS) {
        finished = true;
        const status = JSON.parse(new TextDecoder().decode(payload));
        const message = ended(status);
        if (status.status !== "Success" && !received) {
          hooks.refuse(message);  // refused before the shell started: the session was not valid
          return;
        }
        hooks.state("Ended: " + message);
        term.write("\r\n[" + message + "]\r\n");
      }
    };
    socket.onclose = function () {
      if (!finished) hooks.state("Disconnected");
      term.options.disableStdin = true;
    };
    term.onData(function (text) {
      if (socket.readyState === WebSocket.OPEN) socket.send(frame(STDIN, encoder.encode(text)));
    });
    term.onResize(function (size) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(frame(RESIZE, encoder.encode(JSON.stringify({ Width: size.cols, Height: size.rows }))));
      }
    });
    const refit = function () { fit.fit(); };
    window.addEventListener("resize", refit);
    return {
      close: function () {
        finished = true;
        window.removeEventListener("resize", refit);
        socket.close();
        term.dispose();
      },
    };
  }

  function open(answer) {
    title.textContent = "dlxc terminal: " + answer.container + (answer.user ? " (" + answer.user + ")" : "");
    document.title = answer.container + " — dlxc terminal";
    connect(document.getElementById("terminal"), answer, {
      state: function (text) { state.textContent = text; },
      refuse: refuse,
    });
  }

  window.dlxcTerminal = { connect: connect };
  if (document.getElementById("refused")) start();  // the standalone page, not the dashboard
})();
