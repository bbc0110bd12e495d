"""Reading the master CLI's answers a drain needs: the old workers, and their sessions per listener or server."""

from __future__ import annotations

from openclb.engine.haproxy import runtime

SHOW_PROC_26 = (
    "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
    "7525            master          2 [failed: 0]   0d00h00m09s     2.6.12\n"
    "# workers\n"
    "7542            worker          0               0d00h00m01s     2.6.12\n"
    "# old workers\n"
    "7530            worker          1               0d00h00m05s     2.6.12\n"
    "7511            worker          2               0d00h00m09s     2.6.12\n"
    "# programs\n\n"
)

SHOW_SESS = (
    "0x55e6e6f451f0: proto=tcpv4 src=127.0.0.1:46538 fe=lbl-gone be=lbl-gone srv=127.0.0.1:80 ts=00 "
    "age=1s calls=2 rq[f=808000h,i=0] rp[f=80008000h,i=0] scf=[8,0h,fd=13] scb=[8,1h,fd=14] exp=3s\n"
    "0x55e6e6f45aa0: proto=tcpv4 src=127.0.0.1:46540 fe=lbl-stays be=lbl-stays srv=127.0.0.1:81 ts=00\n"
    "0x55e6e7061450: proto=sockpair src=unix:2 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0 age=0s\n"
    "0x7fa308039d90: proto=tcpv4 src=127.0.0.1:45748 fe=lbl-gone be=lbl-gone srv=127.0.0.1:80 ts=00\n"
    "\n"
)


def test_parse_show_proc_old_workers_section_lists_draining_workers():
    assert runtime.parse_show_proc(SHOW_PROC_26) == runtime.ProcState(2, 7542, (7530, 7511), 7525)


def test_sessions_of_listener_that_left_names_only_its_sessions():
    assert runtime.sessions_of(SHOW_SESS, {"lbl-gone"}) == ["0x55e6e6f451f0", "0x7fa308039d90"]
    assert runtime.sessions_of(SHOW_SESS, {"lbl-other"}) == []
    assert runtime.sessions_of("", {"lbl-gone"}) == []


def test_sessions_to_deregistered_server_names_only_its_sessions():
    assert runtime.sessions_to(SHOW_SESS, {("lbl-stays", "127.0.0.1:81")}) == ["0x55e6e6f45aa0"]
    assert runtime.sessions_to(SHOW_SESS, {("lbl-gone", "127.0.0.1:81")}) == []
