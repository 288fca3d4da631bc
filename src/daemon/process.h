#pragma once
// One daemon process: the components its configuration names (config.h Components), built from
// their sections in this one place and connected —
//
//   proxy  -> agent  -> API      in one process (`serve`): function calls on the connection's
//                                thread (http::MakeInProcessUpstream): no socket and no second
//                                parse; the proxy still stamps X-Forwarded-For and the
//                                namespace's id, the agent still signs, the API still checks
//                                the signature and the forwarded address, exactly as between
//                                processes;
//   proxy -> unix:agent.sock, agent -> http://api   when they run apart (`proxy`, `agent`,
//                                `api`), the Neutron- and Nova-compatible wire protocol.
//
// Threads: listeners accept on one io_context (also the control socket, the admin and ops
// listeners and signals); every data-path connection lives on one context of an http::IoPool
// (--threads) and its whole chain runs there; store calls run on a thread pool
// (--store-threads).
//
// Signals:
//   SIGTERM, SIGINT  drain: every listener closes, idle connections close, requests in flight
//                    are answered (Connection: close) for up to --drain-timeout, then whatever
//                    is left is closed; exit 0.
//   SIGHUP           re-reads the configuration (the file and the same flags) and applies what
//                    can change live: log level, [limits] (for connections accepted from then
//                    on), the API's vendor data and DHCP domain, the proxy's configured
//                    listeners (opened and closed to match; listeners added with proxy-ctl
//                    stay), the namespace manager's settings (--manage itself needs a
//                    restart). Anything else that changed is logged as needing a restart. A
//                    configuration that does not parse changes nothing.
// With --manage (`serve`, `proxy`), the namespace manager (netns_manager/manager.h) opens and
// closes listeners in the proxy as the store's routers and networks and the namespaces come and
// go; it starts after the proxy and stops first on SIGTERM.
// A second daemon on the same UNIX sockets (agent socket, proxy control) refuses to start.
// Under systemd (Type=notify, dist/systemd/) each change is told to it (systemd.h): READY=1
// once every listener is open, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 when the drain
// begins, and WATCHDOG=1 from the listeners' loop when WatchdogSec= asks for it.

#include <functional>

#include "daemon/config.h"

namespace metastack::daemon {

// Runs until SIGTERM or SIGINT; returns the exit code. Throws std::runtime_error when the
// configuration cannot start (the message names the flag or file). `reread` gives the
// configuration again for SIGHUP (throwing when it is bad); empty: SIGHUP re-applies `config`.
int RunDaemon(const DaemonConfig& config, std::function<DaemonConfig()> reread);

}  // namespace metastack::daemon
