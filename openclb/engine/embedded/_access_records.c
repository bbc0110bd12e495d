/* The loop's half of openclb.engine.embedded._access_lines: noting logged HTTP requests.
 *
 * RequestRecorder does, in compiled code, what http_access_log.request_finished and
 * PythonRequests do in Python: it reads the session's fields, keeps the request as a C record
 * (what the client sent copied into a text arena; references to what outlives the request: the
 * version, the connection's fields, the rule's domain, the target's address; numbers as C
 * numbers) and updates the session's counters. No Python object is made or kept per request:
 * nothing for the garbage collector to count or visit, and the request's own objects are freed
 * on the loop, where their memory is used again at once, as on an unlogged request. take() hands
 * the records and their arena to the writer thread as a RequestBatch; the next batch starts at
 * the sizes the previous one reached.
 *
 * Attributes are read as Python reads them (PyObject_GetAttr), except that a __slots__ member of a
 * type with the generic attribute access is read at its offset, found once per type: the loop's
 * cost per request is then a few hundred instructions.
 */
#include "_access_log.h"
#include "structmember.h"
#include <time.h>

typedef struct {
    const char *text;
    PyObject *name;
    PyTypeObject *type;
    Py_ssize_t offset; /* 0: read by PyObject_GetAttr */
} slot_t;

static slot_t S_LOG_HEAD = {"log_head"}, S_LOG_STARTED = {"log_started"}, S_LOG_VERSION = {"log_version"},
              S_LOG_CONNECTION = {"log_connection"}, S_LOG_BYTES_IN = {"log_bytes_in"},
              S_LOG_BYTES_OUT = {"log_bytes_out"}, S_LOG_REQUESTS = {"log_requests"}, S_BYTES_IN = {"bytes_in"},
              S_BYTES_OUT = {"bytes_out"}, S_TARGET = {"target"}, S_RULE = {"rule"}, S_SPEC = {"spec"},
              S_DOMAINS = {"domains"}, S_IP = {"ip"}, S_PORT = {"port"}, S_METHOD = {"method"},
              S_HEAD_TARGET = {"target"}, S_HEADERS = {"headers"}, S_KEEP_ALIVE = {"keep_alive"},
              S_PARSER = {"parser"}, S_LISTENER = {"listener"}, S_ACCESS_LOG = {"access_log"},
              S_REQUESTS = {"requests"};
static slot_t *const SLOTS[] = {&S_LOG_HEAD, &S_LOG_STARTED, &S_LOG_VERSION, &S_LOG_CONNECTION, &S_LOG_BYTES_IN,
                                &S_LOG_BYTES_OUT, &S_LOG_REQUESTS, &S_BYTES_IN, &S_BYTES_OUT, &S_TARGET, &S_RULE,
                                &S_SPEC, &S_DOMAINS, &S_IP, &S_PORT, &S_METHOD, &S_HEAD_TARGET, &S_HEADERS,
                                &S_KEEP_ALIVE, &S_PARSER, &S_LISTENER, &S_ACCESS_LOG, &S_REQUESTS};

static PyObject *connection_fields = NULL; /* http_access_log.connection_fields */
static PyObject *version_1_1 = NULL, *empty_text = NULL, *get_http_version = NULL;

static void slot_resolve(slot_t *slot, PyTypeObject *type)
{
    Py_XSETREF(slot->type, (PyTypeObject *)Py_NewRef(type));
    slot->offset = 0;
    if (type->tp_getattro != PyObject_GenericGetAttr || type->tp_setattro != PyObject_GenericSetAttr)
        return;
    PyObject *descr = PyObject_GetAttr((PyObject *)type, slot->name);
    if (descr == NULL) {
        PyErr_Clear();
        return;
    }
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY))
            slot->offset = member->offset;
    }
    Py_DECREF(descr);
}

/* obj.<slot> as a new reference, or NULL with AttributeError set. */
static PyObject *slot_get(PyObject *obj, slot_t *slot)
{
    if (Py_TYPE(obj) != slot->type)
        slot_resolve(slot, Py_TYPE(obj));
    if (slot->offset) {
        PyObject *value = *(PyObject **)((char *)obj + slot->offset);
        if (value == NULL) {
            PyErr_SetObject(PyExc_AttributeError, slot->name);
            return NULL;
        }
        return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, slot->name);
}

static int slot_set(PyObject *obj, slot_t *slot, PyObject *value)
{
    if (Py_TYPE(obj) != slot->type)
        slot_resolve(slot, Py_TYPE(obj));
    if (slot->offset) {
        PyObject **place = (PyObject **)((char *)obj + slot->offset);
        Py_XSETREF(*place, Py_NewRef(value));
        return 0;
    }
    return PyObject_SetAttr(obj, slot->name, value);
}

static int slot_int(PyObject *obj, slot_t *slot, long long *out)
{
    PyObject *value = slot_get(obj, slot);
    if (value == NULL)
        return -1;
    *out = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static double monotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void stored_clear(stored_t *s)
{
    Py_CLEAR(s->version);
    Py_CLEAR(s->connection);
    Py_CLEAR(s->server_name);
    Py_CLEAR(s->target_ip);
}

static int is_name(PyObject *name, const char *wanted, Py_ssize_t size)
{
    return PyBytes_Check(name) && PyBytes_GET_SIZE(name) == size && memcmp(PyBytes_AS_STRING(name), wanted, size) == 0;
}

typedef struct {
    char *p;
    size_t n, capacity;
} arena_t;

static int arena_reserve(arena_t *arena, size_t more, size_t hint)
{
    if (arena->n + more <= arena->capacity)
        return 0;
    size_t capacity = arena->capacity ? arena->capacity : 65536;
    if (!arena->capacity && hint > capacity)
        capacity = hint;
    while (capacity < arena->n + more)
        capacity *= 2;
    char *p = PyMem_RawRealloc(arena->p, capacity);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    arena->p = p;
    arena->capacity = capacity;
    return 0;
}

static int bytes_of(PyObject *value, const char *what)
{
    if (PyBytes_Check(value))
        return 0;
    PyErr_Format(PyExc_TypeError, "access log %s: bytes expected, not %.50s", what, Py_TYPE(value)->tp_name);
    return -1;
}

/* Copy the method, target and the last Host, User-Agent and Referer of ``headers`` ((name, value)
 * pairs in a list or tuple, as dict() keeps the last) into the arena, recording their lengths. */
static int stored_text(stored_t *s, arena_t *arena, size_t hint, PyObject *method, PyObject *target,
                       PyObject *headers)
{
    if (bytes_of(method, "method") || bytes_of(target, "target"))
        return -1;
    PyObject *sequence = PySequence_Fast(headers, "access log headers: a sequence of pairs expected");
    if (sequence == NULL)
        return -1;
    PyObject *found[3] = {NULL, NULL, NULL};
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = items[i];
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || bytes_of(PyTuple_GET_ITEM(pair, 1), "header")) {
            Py_DECREF(sequence);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "access log headers: (name, value) pairs expected");
            return -1;
        }
        PyObject *name = PyTuple_GET_ITEM(pair, 0);
        int at = is_name(name, "host", 4) ? 0 : is_name(name, "user-agent", 10) ? 1 : is_name(name, "referer", 7) ? 2 : -1;
        if (at >= 0)
            found[at] = PyTuple_GET_ITEM(pair, 1);
    }
    s->method_n = PyBytes_GET_SIZE(method);
    s->target_n = PyBytes_GET_SIZE(target);
    s->host_n = found[0] ? PyBytes_GET_SIZE(found[0]) : 0;
    s->agent_n = found[1] ? PyBytes_GET_SIZE(found[1]) : 0;
    s->referer_n = found[2] ? PyBytes_GET_SIZE(found[2]) : 0;
    size_t size = (size_t)(s->method_n + s->target_n + s->host_n + s->agent_n + s->referer_n);
    if (arena_reserve(arena, size, hint)) {
        Py_DECREF(sequence);
        return -1;
    }
    s->text = arena->n;
    char *out = arena->p + arena->n;
    memcpy(out, PyBytes_AS_STRING(method), (size_t)s->method_n);
    out += s->method_n;
    memcpy(out, PyBytes_AS_STRING(target), (size_t)s->target_n);
    out += s->target_n;
    for (int i = 0; i < 3; i++)
        if (found[i] != NULL) {
            memcpy(out, PyBytes_AS_STRING(found[i]), (size_t)PyBytes_GET_SIZE(found[i]));
            out += PyBytes_GET_SIZE(found[i]);
        }
    arena->n += size;
    Py_DECREF(sequence);
    return 0;
}

/* -- RequestBatch ------------------------------------------------------------------------ */

static void batch_dealloc(batch_object *self)
{
    for (Py_ssize_t i = 0; i < self->count; i++)
        stored_clear(&self->items[i]);
    PyMem_RawFree(self->items);
    PyMem_RawFree(self->arena);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t batch_length(batch_object *self)
{
    return self->count;
}

static PySequenceMethods batch_sequence = {.sq_length = (lenfunc)batch_length};

PyTypeObject RequestBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openclb.engine.embedded._access_lines.RequestBatch",
    .tp_basicsize = sizeof(batch_object),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_as_sequence = &batch_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Requests taken from a RequestRecorder, for request_lines.",
};

/* -- RequestRecorder --------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    stored_t *items;
    Py_ssize_t count, capacity, limit;
    arena_t arena;
    /* What the previous batch needed: the next one starts at that size, not growing through it again. */
    Py_ssize_t capacity_hint;
    size_t arena_hint;
    long long dropped;
    PyObject *arm; /* called when a batch's first request arrives (AccessLog.arm) */
    int armed;
} recorder_object;

static int recorder_init(recorder_object *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"arm", "limit", NULL};
    PyObject *arm;
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "On:RequestRecorder", names, &arm, &limit))
        return -1;
    Py_XSETREF(self->arm, Py_NewRef(arm));
    self->limit = limit;
    self->capacity_hint = 1024;
    self->arena_hint = 65536;
    return 0;
}

static int recorder_traverse(recorder_object *self, visitproc visit, void *arg)
{
    Py_VISIT(self->arm);
    return 0;
}

static int recorder_clear(recorder_object *self)
{
    Py_CLEAR(self->arm);
    return 0;
}

static void recorder_dealloc(recorder_object *self)
{
    PyObject_GC_UnTrack(self);
    recorder_clear(self);
    for (Py_ssize_t i = 0; i < self->count; i++)
        stored_clear(&self->items[i]);
    PyMem_RawFree(self->items);
    PyMem_RawFree(self->arena.p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Keep ``s`` (its references move in), or count it dropped; arm the flush for a batch's first. */
static PyObject *recorder_keep(recorder_object *self, stored_t *s)
{
    if (self->count >= self->limit) {
        self->dropped++;
        self->arena.n = s->text;
        stored_clear(s);
        Py_RETURN_NONE;
    }
    if (self->count == self->capacity) {
        Py_ssize_t capacity = self->capacity ? self->capacity * 2 : self->capacity_hint;
        stored_t *items = PyMem_RawRealloc(self->items, sizeof(stored_t) * (size_t)capacity);
        if (items == NULL) {
            stored_clear(s);
            return PyErr_NoMemory();
        }
        self->items = items;
        self->capacity = capacity;
    }
    self->items[self->count++] = *s;
    if (!self->armed) {
        self->armed = 1;
        PyObject *done = PyObject_CallNoArgs(self->arm);
        if (done == NULL)
            return NULL;
        Py_DECREF(done);
    }
    Py_RETURN_NONE;
}

static int read_long(PyObject *value, long long *out)
{
    *out = PyLong_AsLongLong(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The target's address and the rule's first domain, when a target answered or failed (status >= 500). */
static int stored_target(stored_t *s, PyObject *session)
{
    PyObject *target = slot_get(session, &S_TARGET);
    if (target == NULL)
        return -1;
    int failed = 0;
    if (target != Py_None) {
        PyObject *rule = slot_get(session, &S_RULE), *port = NULL;
        if (rule == NULL) {
            failed = 1;
        } else if (rule == Py_None) {
            s->server_name = Py_NewRef(empty_text);
        } else {
            PyObject *spec = slot_get(rule, &S_SPEC);
            PyObject *domains = spec == NULL ? NULL : slot_get(spec, &S_DOMAINS);
            s->server_name = domains == NULL ? NULL : PySequence_GetItem(domains, 0);
            failed = s->server_name == NULL;
            Py_XDECREF(spec);
            Py_XDECREF(domains);
        }
        Py_XDECREF(rule);
        failed = failed || (s->target_ip = slot_get(target, &S_IP)) == NULL
                 || (port = slot_get(target, &S_PORT)) == NULL || read_long(port, &s->target_port);
        Py_XDECREF(port);
    } else {
        s->server_name = Py_NewRef(empty_text);
    }
    Py_DECREF(target);
    return failed ? -1 : 0;
}

/* Set the session's counters to what this request's record counted up to. */
static int advance_counters(PyObject *session, PyObject *bytes_in, long long bytes_out, long long requests)
{
    PyObject *out = PyLong_FromLongLong(bytes_out), *count = PyLong_FromLongLong(requests);
    int failed = out == NULL || count == NULL || slot_set(session, &S_LOG_BYTES_IN, bytes_in)
                 || slot_set(session, &S_LOG_BYTES_OUT, out) || slot_set(session, &S_LOG_REQUESTS, count);
    Py_XDECREF(out);
    Py_XDECREF(count);
    return failed ? -1 : 0;
}

/* record(session, status, upstream_status=0, sent=0): http_access_log.request_finished's record. */
static PyObject *recorder_record(recorder_object *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long status, upstream = 0, sent = 0, bytes_in, bytes_out, before_in, before_out, requests;
    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError, "record(session, status, upstream_status=0, sent=0)");
        return NULL;
    }
    PyObject *session = args[0];
    if (read_long(args[1], &status) || (nargs > 2 && read_long(args[2], &upstream))
        || (nargs > 3 && read_long(args[3], &sent)))
        return NULL;
    stored_t s = {0};
    s.ended = monotonic();
    s.status = status;
    s.upstream_status = upstream;
    size_t mark = self->arena.n;
    PyObject *head = slot_get(session, &S_LOG_HEAD), *started = NULL, *in = NULL, *headers = NULL;
    PyObject *method = NULL, *target = NULL;
    if (head == NULL || slot_set(session, &S_LOG_HEAD, Py_None))
        goto failed;
    if ((method = slot_get(head, &S_METHOD)) == NULL || (target = slot_get(head, &S_HEAD_TARGET)) == NULL
        || (headers = slot_get(head, &S_HEADERS)) == NULL
        || stored_text(&s, &self->arena, self->arena_hint, method, target, headers)
        || (s.version = slot_get(session, &S_LOG_VERSION)) == NULL
        || (s.connection = slot_get(session, &S_LOG_CONNECTION)) == NULL
        || (started = slot_get(session, &S_LOG_STARTED)) == NULL)
        goto failed;
    s.started = PyFloat_AsDouble(started);
    if ((s.started == -1.0 && PyErr_Occurred()) || (in = slot_get(session, &S_BYTES_IN)) == NULL
        || read_long(in, &bytes_in) || slot_int(session, &S_BYTES_OUT, &bytes_out)
        || slot_int(session, &S_LOG_BYTES_IN, &before_in) || slot_int(session, &S_LOG_BYTES_OUT, &before_out)
        || slot_int(session, &S_LOG_REQUESTS, &requests))
        goto failed;
    if (upstream || status >= 500) {
        if (stored_target(&s, session))
            goto failed;
    } else {
        s.server_name = Py_NewRef(empty_text);
    }
    bytes_out += sent;
    s.length = bytes_in - before_in;
    s.sent = bytes_out - before_out;
    s.requests = requests + 1;
    if (advance_counters(session, in, bytes_out, s.requests))
        goto failed;
    Py_DECREF(head);
    Py_DECREF(method);
    Py_DECREF(target);
    Py_DECREF(started);
    Py_DECREF(in);
    Py_DECREF(headers);
    return recorder_keep(self, &s);
failed:
    self->arena.n = mark;
    Py_XDECREF(head);
    Py_XDECREF(method);
    Py_XDECREF(target);
    Py_XDECREF(started);
    Py_XDECREF(in);
    Py_XDECREF(headers);
    stored_clear(&s);
    return NULL;
}

/* append(fields): a request already gathered as http_access_log.REQUEST_FIELDS values (HTTP/2, HTTP/3). */
static PyObject *recorder_append(recorder_object *self, PyObject *fields)
{
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) != 15) {
        PyErr_SetString(PyExc_TypeError, "append(fields): a tuple of 15 values");
        return NULL;
    }
    PyObject **v = &PyTuple_GET_ITEM(fields, 0);
    stored_t s = {0};
    s.ended = PyFloat_AsDouble(v[0]);
    s.started = PyFloat_AsDouble(v[1]);
    size_t mark = self->arena.n;
    if (PyErr_Occurred() || read_long(v[9], &s.target_port) || read_long(v[10], &s.status)
        || read_long(v[11], &s.upstream_status) || read_long(v[12], &s.length) || read_long(v[13], &s.sent)
        || read_long(v[14], &s.requests) || stored_text(&s, &self->arena, self->arena_hint, v[2], v[3], v[5])) {
        self->arena.n = mark;
        return NULL;
    }
    s.version = Py_NewRef(v[4]);
    s.connection = Py_NewRef(v[6]);
    s.server_name = Py_NewRef(v[7]);
    s.target_ip = v[8] == Py_None ? NULL : Py_NewRef(v[8]);
    return recorder_keep(self, &s);
}

/* take(): the requests kept so far as a RequestBatch (None: none); the next one arms the flush again. */
static PyObject *recorder_take(recorder_object *self, PyObject *unused)
{
    self->armed = 0;
    if (self->count == 0)
        Py_RETURN_NONE;
    batch_object *batch = PyObject_New(batch_object, &RequestBatchType);
    if (batch == NULL)
        return NULL;
    batch->items = self->items;
    batch->count = self->count;
    batch->arena = self->arena.p;
    self->capacity_hint = self->capacity;
    self->arena_hint = self->arena.capacity;
    self->items = NULL;
    self->count = self->capacity = 0;
    self->arena.p = NULL;
    self->arena.n = 0;
    self->arena.capacity = 0;
    return (PyObject *)batch;
}

static Py_ssize_t recorder_length(recorder_object *self)
{
    return self->count;
}

static PyObject *recorder_dropped(recorder_object *self, void *closure)
{
    return PyLong_FromLongLong(self->dropped);
}

static PyMethodDef recorder_methods[] = {
    {"record", (PyCFunction)(void (*)(void))recorder_record, METH_FASTCALL,
     "record(session, status, upstream_status=0, sent=0): the session's current request."},
    {"append", (PyCFunction)recorder_append, METH_O, "append(fields): a request as REQUEST_FIELDS values."},
    {"take", (PyCFunction)recorder_take, METH_NOARGS, "take() -> RequestBatch | None"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef recorder_getset[] = {
    {"dropped", (getter)recorder_dropped, NULL, "requests not kept: the limit was reached", NULL},
    {NULL},
};

static PySequenceMethods recorder_sequence = {.sq_length = (lenfunc)recorder_length};

PyTypeObject RequestRecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openclb.engine.embedded._access_lines.RequestRecorder",
    .tp_basicsize = sizeof(recorder_object),
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_as_sequence = &recorder_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RequestRecorder(arm, limit): the logged HTTP requests of one access log, kept for the writer.",
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_methods = recorder_methods,
    .tp_getset = recorder_getset,
    .tp_init = (initproc)recorder_init,
    .tp_new = PyType_GenericNew,
};

/* -- the request's start ----------------------------------------------------------------- */

/* request_started(session, head): http_access_log.request_started. */
PyObject *request_started(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "request_started(session, head)");
        return NULL;
    }
    PyObject *session = args[0], *head = args[1];
    PyObject *connection = slot_get(session, &S_LOG_CONNECTION);
    if (connection == NULL)
        return NULL;
    if (connection == Py_None) {
        Py_DECREF(connection);
        if (connection_fields == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "_access_lines.configure was not called");
            return NULL;
        }
        connection = PyObject_CallOneArg(connection_fields, session);
        if (connection == NULL || slot_set(session, &S_LOG_CONNECTION, connection)) {
            Py_XDECREF(connection);
            return NULL;
        }
    }
    Py_DECREF(connection);
    PyObject *started = PyFloat_FromDouble(monotonic());
    if (started == NULL || slot_set(session, &S_LOG_STARTED, started)) {
        Py_XDECREF(started);
        return NULL;
    }
    Py_DECREF(started);
    PyObject *keep_alive = slot_get(head, &S_KEEP_ALIVE), *version;
    if (keep_alive == NULL)
        return NULL;
    if (keep_alive == Py_True) {
        version = Py_NewRef(version_1_1);
    } else {
        PyObject *parser = slot_get(session, &S_PARSER);
        version = parser == NULL ? NULL : PyObject_CallMethodNoArgs(parser, get_http_version);
        Py_XDECREF(parser);
    }
    Py_DECREF(keep_alive);
    if (version == NULL || slot_set(session, &S_LOG_VERSION, version) || slot_set(session, &S_LOG_HEAD, head)) {
        Py_XDECREF(version);
        return NULL;
    }
    Py_DECREF(version);
    Py_RETURN_NONE;
}

PyObject *configure(PyObject *module, PyObject *callable)
{
    Py_XSETREF(connection_fields, Py_NewRef(callable));
    Py_RETURN_NONE;
}

int records_ready(PyObject *module)
{
    for (size_t i = 0; i < sizeof(SLOTS) / sizeof(SLOTS[0]); i++)
        if ((SLOTS[i]->name = PyUnicode_InternFromString(SLOTS[i]->text)) == NULL)
            return -1;
    if ((version_1_1 = PyUnicode_InternFromString("1.1")) == NULL || (empty_text = PyUnicode_FromString("")) == NULL
        || (get_http_version = PyUnicode_InternFromString("get_http_version")) == NULL)
        return -1;
    if (PyType_Ready(&RequestBatchType) || PyType_Ready(&RequestRecorderType))
        return -1;
    if (PyModule_AddObjectRef(module, "RequestRecorder", (PyObject *)&RequestRecorderType)
        || PyModule_AddObjectRef(module, "RequestBatch", (PyObject *)&RequestBatchType))
        return -1;
    return 0;
}

/* request_finished(session, status, upstream_status=0, sent=0): hand the session's current request
 * to its listener's log (http_access_log.request_finished). */
PyObject *request_finished(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "request_finished(session, status, upstream_status=0, sent=0)");
        return NULL;
    }
    PyObject *listener = slot_get(args[0], &S_LISTENER);
    PyObject *log = listener == NULL ? NULL : slot_get(listener, &S_ACCESS_LOG);
    Py_XDECREF(listener);
    if (log == NULL)
        return NULL;
    if (log == Py_None) {
        Py_DECREF(log);
        if (slot_set(args[0], &S_LOG_HEAD, Py_None))
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *recorder = slot_get(log, &S_REQUESTS), *done = NULL;
    Py_DECREF(log);
    if (recorder == NULL)
        return NULL;
    if (Py_IS_TYPE(recorder, &RequestRecorderType))
        done = recorder_record((recorder_object *)recorder, args, nargs);
    else
        PyErr_SetString(PyExc_TypeError, "access log: the log's recorder is not a RequestRecorder");
    Py_DECREF(recorder);
    return done;
}
