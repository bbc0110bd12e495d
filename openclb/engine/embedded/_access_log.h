/* What the two halves of openclb.engine.embedded._access_lines share: a logged request as the
 * recorder keeps it (_access_records.c) and the formatter reads it (_access_lines.c). */
#ifndef OPENCLB_ACCESS_LOG_H
#define OPENCLB_ACCESS_LOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* One request. What the client sent (method, target, Host, User-Agent, Referer) is copied into
 * the recorder's text arena, laid end to end from ``text`` (so the request's own Python objects are
 * freed on the loop as when nothing is logged); what outlives requests (the version string, the
 * connection's fields of http_access_log.connection_fields, the rule's domain, the target's
 * address) is held by strong references (target_ip NULL: no target). */
typedef struct {
    PyObject *version, *connection, *server_name, *target_ip;
    size_t text;
    Py_ssize_t method_n, target_n, host_n, agent_n, referer_n;
    double ended, started;
    long long target_port, status, upstream_status, length, sent, requests;
} stored_t;

/* A batch taken from a recorder: the writer thread formats it (request_lines) and drops it. */
typedef struct {
    PyObject_HEAD
    stored_t *items;
    Py_ssize_t count;
    char *arena;
} batch_object;

extern PyTypeObject RequestBatchType;
extern PyTypeObject RequestRecorderType;

/* request_started(session, head): the loop's note of a logged request's start. */
PyObject *request_started(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* request_finished(session, status, upstream_status=0, sent=0): the session's request to its log. */
PyObject *request_finished(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* configure(connection_fields): the Python function that gathers a connection's fields once. */
PyObject *configure(PyObject *module, PyObject *callable);

int records_ready(PyObject *module);

#endif
