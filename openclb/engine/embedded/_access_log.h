/* What the two halves of openclb.engine.embedded._access_lines share: a logged request as the
 * recorder keeps it (_access_records.c) and the formatter reads it (_access_lines.c). */
#ifndef OPENCLB_ACCESS_LOG_H
#define OPENCLB_ACCESS_LOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* One request: strong references to what the client sent and the connection's fields (tuple of
 * http_access_log.connection_fields), numbers as C numbers. host/agent/referer/target_ip: NULL when
 * absent. */
typedef struct {
    PyObject *method, *target, *version, *host, *agent, *referer, *connection, *server_name, *target_ip;
    double ended, started;
    long long target_port, status, upstream_status, length, sent, requests;
} stored_t;

/* A batch taken from a recorder: the writer thread formats it (request_lines) and drops it. */
typedef struct {
    PyObject_HEAD
    stored_t *items;
    Py_ssize_t count;
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
