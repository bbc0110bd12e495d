/* The JSON lines of logged HTTP requests, written by compiled code (openclb.engine.embedded._access_lines).
 *
 * request_lines(batch, offset) -> bytes writes, byte for byte, what http_access_log._request_lines
 * writes in Python for the same requests: ``batch`` is what a RequestRecorder (_access_records.c)
 * kept, ``offset`` places the monotonic clock on the wall clock. It exists because the Python
 * formatter costs more a line than the whole budget of issue 16 (logging at most 10% of a
 * request's cost): a line here is one pass over a few hundred bytes.
 *
 * A batch is taken in two phases, each once: with the GIL held, every record's values are checked
 * and read (pointers into the batch's text arena and into the str objects it keeps alive, which
 * are immutable; the time_local text); then, without the GIL, the lines are written into one
 * buffer, so the event loop runs while lines are formatted. Once, not per chunk: each time the
 * writer thread takes the GIL back it waits for the loop to give it up, two context switches. A value of an unexpected type raises
 * TypeError, as the Python formatter would fail on it.
 */
#include "_access_log.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define STAMP_BYTES 48

typedef struct {
    const char *p;
    Py_ssize_t n;
} text_t;

typedef struct {
    double taken;
    text_t method, target, version, host, agent, referer;
    text_t vip, client_ip, server_name, target_ip;
    text_t tls[3];
    long long port, client_port, target_port, status, upstream_status, length, sent, requests;
    int https, has_tls, has_target;
    Py_ssize_t stamp; /* index into the batch's stamps */
} record_t;

typedef struct {
    char *p;
    size_t n, cap;
} buffer_t;

static int buffer_reserve(buffer_t *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    if (more > ((size_t)1 << 40))
        return -1;
    while (cap < b->n + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* -- phase 1: reading values (GIL held) ---------------------------------------------------- */

/* A str's UTF-8 text (every text the batch still references is ours and a str: what the client
 * sent is in the arena). */
static int read_text(PyObject *value, text_t *out, const char *what)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "access log %s: str expected, not %.50s", what, Py_TYPE(value)->tp_name);
        return -1;
    }
    out->p = PyUnicode_AsUTF8AndSize(value, &out->n);
    return out->p == NULL ? -1 : 0;
}

static int read_int(PyObject *value, long long *out, const char *what)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "access log %s: int expected, not %.50s", what, Py_TYPE(value)->tp_name);
        return -1;
    }
    *out = PyLong_AsLongLong(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* (HTTPS, VIP, listen port, client IP, client port, TLS or None): http_access_log.connection_fields. */
static int read_connection(PyObject *connection, record_t *r)
{
    if (!PyTuple_Check(connection) || PyTuple_GET_SIZE(connection) != 6) {
        PyErr_SetString(PyExc_TypeError, "access log connection: a 6-tuple expected");
        return -1;
    }
    r->https = PyObject_IsTrue(PyTuple_GET_ITEM(connection, 0));
    if (r->https < 0 || read_text(PyTuple_GET_ITEM(connection, 1), &r->vip, "vip")
        || read_int(PyTuple_GET_ITEM(connection, 2), &r->port, "port")
        || read_text(PyTuple_GET_ITEM(connection, 3), &r->client_ip, "client ip")
        || read_int(PyTuple_GET_ITEM(connection, 4), &r->client_port, "client port"))
        return -1;
    PyObject *tls = PyTuple_GET_ITEM(connection, 5);
    r->has_tls = tls != Py_None;
    if (!r->has_tls)
        return 0;
    if (!PyTuple_Check(tls) || PyTuple_GET_SIZE(tls) != 3) {
        PyErr_SetString(PyExc_TypeError, "access log TLS: a 3-tuple expected");
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (read_text(PyTuple_GET_ITEM(tls, i), &r->tls[i], "TLS"))
            return -1;
    return 0;
}

typedef struct {
    long long second;
    char text[STAMP_BYTES];
    size_t n;
} stamp_t;

/* nginx's $time_local of a second, as time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second)).
 * ``stamps`` has room for one a record: a batch's records are mostly in time order, so only the
 * last few seconds are looked at before a new one is made. */
static Py_ssize_t stamp_of(long long second, stamp_t *stamps, Py_ssize_t *count)
{
    for (Py_ssize_t i = *count - 1; i >= 0 && i >= *count - 8; i--)
        if (stamps[i].second == second)
            return i;
    Py_ssize_t at = (*count)++;
    time_t when = (time_t)second;
    struct tm local;
    stamps[at].second = second;
    stamps[at].n = localtime_r(&when, &local) == NULL ? 0
                   : strftime(stamps[at].text, STAMP_BYTES, "%d/%b/%Y:%H:%M:%S %z", &local);
    return at;
}

static const text_t NO_TEXT = {"", 0};

static int read_optional(PyObject *value, text_t *out, const char *what)
{
    if (value == NULL) {
        *out = NO_TEXT;
        return 0;
    }
    return read_text(value, out, what);
}

static int read_record(const stored_t *s, const char *arena, record_t *r, double offset, stamp_t *stamps,
                       Py_ssize_t *stamp_count)
{
    if (read_text(s->version, &r->version, "version") || read_connection(s->connection, r)
        || read_text(s->server_name, &r->server_name, "server name")
        || read_optional(s->target_ip, &r->target_ip, "target ip"))
        return -1;
    const char *text = arena + s->text;
    r->method = (text_t){text, s->method_n};
    text += s->method_n;
    r->target = (text_t){text, s->target_n};
    text += s->target_n;
    r->host = (text_t){text, s->host_n};
    text += s->host_n;
    r->agent = (text_t){text, s->agent_n};
    text += s->agent_n;
    r->referer = (text_t){text, s->referer_n};
    r->has_target = s->target_ip != NULL;
    r->target_port = s->target_port;
    r->status = s->status;
    r->upstream_status = s->upstream_status;
    r->length = s->length;
    r->sent = s->sent;
    r->requests = s->requests;
    r->taken = s->ended - s->started;
    r->stamp = stamp_of((long long)(offset + s->ended), stamps, stamp_count);
    return 0;
}

/* -- phase 2: writing lines (GIL released) ------------------------------------------------- */

static const char HEX[] = "0123456789abcdef";

/* What json.encoder.encode_basestring writes for one character below 0x80 (without the quotes). */
static inline char *escape_ascii(char *out, unsigned char c)
{
    switch (c) {
    case '"': *out++ = '\\'; *out++ = '"'; return out;
    case '\\': *out++ = '\\'; *out++ = '\\'; return out;
    case '\n': *out++ = '\\'; *out++ = 'n'; return out;
    case '\r': *out++ = '\\'; *out++ = 'r'; return out;
    case '\t': *out++ = '\\'; *out++ = 't'; return out;
    case '\b': *out++ = '\\'; *out++ = 'b'; return out;
    case '\f': *out++ = '\\'; *out++ = 'f'; return out;
    }
    if (c < 0x20) {
        memcpy(out, "\\u00", 4);
        out[4] = HEX[c >> 4];
        out[5] = HEX[c & 15];
        return out + 6;
    }
    *out++ = (char)c;
    return out;
}

/* Client-sent bytes as latin-1 text, escaped and UTF-8 encoded (http_access_log._client_text without
 * quotes); ``stop``: '?' ends the text (the "uri" field), or -1. */
static char *escape_latin1(char *out, text_t t, int stop)
{
    const unsigned char *p = (const unsigned char *)t.p;
    for (Py_ssize_t i = 0; i < t.n; i++) {
        unsigned char c = p[i];
        if (c == stop)
            break;
        if (c >= 0x80) {
            *out++ = (char)(0xc0 | (c >> 6));
            *out++ = (char)(0x80 | (c & 0x3f));
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
        } else {
            out = escape_ascii(out, c);
        }
    }
    return out;
}

/* A str's UTF-8 text escaped as json_text escapes the str (non-ASCII characters are kept). */
static char *escape_utf8(char *out, text_t t)
{
    const unsigned char *p = (const unsigned char *)t.p;
    for (Py_ssize_t i = 0; i < t.n; i++) {
        unsigned char c = p[i];
        if (c >= 0x80 || (c >= 0x20 && c != '"' && c != '\\'))
            *out++ = (char)c;
        else
            out = escape_ascii(out, c);
    }
    return out;
}

static inline char *put(char *out, const char *s, size_t n)
{
    memcpy(out, s, n);
    return out + n;
}

#define PUT_LITERAL(out, s) put(out, s, sizeof(s) - 1)

static char *put_text(char *out, text_t t)
{
    return put(out, t.p, (size_t)t.n);
}

static char *put_int(char *out, long long value)
{
    char digits[24];
    int n = 0;
    unsigned long long u = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (value < 0)
        *out++ = '-';
    while (n)
        *out++ = digits[--n];
    return out;
}

/* "%.3f" % seconds, as Python writes it: correctly rounded. The shortcut is exact unless the value
 * is within a millionth of a millisecond of a tie, where printf (also correctly rounded) decides. */
static char *put_seconds(char *out, double seconds)
{
    double ms = seconds * 1000.0;
    if (seconds >= 0.0 && ms < 1e9) {
        double whole = floor(ms);
        double fraction = ms - whole;
        if (fabs(fraction - 0.5) > 1e-6) {
            long long rounded = (long long)whole + (fraction > 0.5);
            out = put_int(out, rounded / 1000);
            long long rest = rounded % 1000;
            out[0] = '.';
            out[1] = (char)('0' + rest / 100);
            out[2] = (char)('0' + rest / 10 % 10);
            out[3] = (char)('0' + rest % 10);
            return out + 4;
        }
    }
    return out + snprintf(out, 64, "%.3f", seconds);
}

/* The most bytes a record's line can take: every client-sent byte escaped to six. */
static size_t line_bound(const record_t *r)
{
    size_t escaped = (size_t)(r->method.n + 2 * r->target.n + r->host.n + r->agent.n + r->referer.n
                              + r->server_name.n);
    if (r->has_tls)
        escaped += (size_t)(r->tls[0].n + r->tls[1].n + r->tls[2].n);
    return 1024 + 6 * escaped + 2 * (size_t)r->version.n + (size_t)(r->vip.n + r->client_ip.n + r->target_ip.n)
           + STAMP_BYTES;
}

static char *write_line(char *out, const record_t *r, const stamp_t *stamps)
{
    const stamp_t *stamp = &stamps[r->stamp];
    out = PUT_LITERAL(out, "{\"time_local\":\"");
    out = put(out, stamp->text, stamp->n);
    out = r->https ? PUT_LITERAL(out, "\",\"protocol_type\":\"HTTPS\",\"server_addr\":\"")
                   : PUT_LITERAL(out, "\",\"protocol_type\":\"HTTP\",\"server_addr\":\"");
    out = put_text(out, r->vip);
    out = PUT_LITERAL(out, "\",\"server_port\":");
    out = put_int(out, r->port);
    out = PUT_LITERAL(out, ",\"server_name\":\"");
    out = escape_utf8(out, r->server_name);
    out = PUT_LITERAL(out, "\",\"remote_addr\":\"");
    out = put_text(out, r->client_ip);
    out = PUT_LITERAL(out, "\",\"remote_port\":");
    out = put_int(out, r->client_port);
    out = PUT_LITERAL(out, ",\"status\":");
    out = put_int(out, r->status);
    out = PUT_LITERAL(out, ",\"upstream_addr\":\"");
    if (r->has_target) {
        out = put_text(out, r->target_ip);
        *out++ = ':';
        out = put_int(out, r->target_port);
    } else {
        *out++ = '-';
    }
    out = PUT_LITERAL(out, "\",\"upstream_status\":\"");
    if (r->upstream_status)
        out = put_int(out, r->upstream_status);
    else
        *out++ = '-';
    out = PUT_LITERAL(out, "\",\"request\":\"");
    out = escape_latin1(out, r->method, -1);
    *out++ = ' ';
    out = escape_latin1(out, r->target, -1);
    out = PUT_LITERAL(out, " HTTP/");
    out = put_text(out, r->version);
    out = PUT_LITERAL(out, "\",\"uri\":\"");
    out = escape_latin1(out, r->target, '?');
    out = PUT_LITERAL(out, "\",\"server_protocol\":\"HTTP/");
    out = put_text(out, r->version);
    out = PUT_LITERAL(out, "\",\"http_host\":\"");
    out = escape_latin1(out, r->host, -1);
    out = PUT_LITERAL(out, "\",\"http_user_agent\":\"");
    out = escape_latin1(out, r->agent, -1);
    out = PUT_LITERAL(out, "\",\"http_referer\":\"");
    out = escape_latin1(out, r->referer, -1);
    out = PUT_LITERAL(out, "\",\"request_length\":");
    out = put_int(out, r->length);
    out = PUT_LITERAL(out, ",\"bytes_sent\":");
    out = put_int(out, r->sent);
    out = PUT_LITERAL(out, ",\"request_time\":");
    char *taken = out;
    out = put_seconds(out, r->taken);
    size_t taken_n = (size_t)(out - taken);
    out = PUT_LITERAL(out, ",\"upstream_response_time\":");
    if (r->upstream_status)
        out = put(out, taken, taken_n);
    else
        out = PUT_LITERAL(out, "\"-\"");
    out = PUT_LITERAL(out, ",\"connection_requests\":");
    out = put_int(out, r->requests);
    if (r->has_tls) {
        out = PUT_LITERAL(out, ",\"ssl_protocol\":\"");
        out = escape_utf8(out, r->tls[0]);
        out = PUT_LITERAL(out, "\",\"ssl_cipher\":\"");
        out = escape_utf8(out, r->tls[1]);
        out = PUT_LITERAL(out, "\",\"ssl_server_name\":\"");
        out = escape_utf8(out, r->tls[2]);
        *out++ = '"';
    }
    *out++ = '}';
    *out++ = '\n';
    return out;
}

static int write_lines(buffer_t *b, const record_t *records, Py_ssize_t count, const stamp_t *stamps)
{
    size_t bound = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        bound += line_bound(&records[i]);
    if (buffer_reserve(b, bound))
        return -1;
    char *out = b->p + b->n;
    for (Py_ssize_t i = 0; i < count; i++)
        out = write_line(out, &records[i], stamps);
    b->n = (size_t)(out - b->p);
    return 0;
}

static PyObject *request_lines(PyObject *module, PyObject *args)
{
    batch_object *batch;
    double offset;
    if (!PyArg_ParseTuple(args, "O!d:request_lines", &RequestBatchType, &batch, &offset))
        return NULL;
    Py_ssize_t count = batch->count, stamp_count = 0;
    record_t *records = PyMem_RawMalloc(sizeof(record_t) * (size_t)(count ? count : 1));
    stamp_t *stamps = PyMem_RawMalloc(sizeof(stamp_t) * (size_t)(count ? count : 1));
    buffer_t buffer = {NULL, 0, 0};
    PyObject *result = NULL;
    int failed = records == NULL || stamps == NULL;
    if (failed)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < count && !failed; i++)
        failed = read_record(&batch->items[i], batch->arena, &records[i], offset, stamps, &stamp_count);
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = write_lines(&buffer, records, count, stamps);
        Py_END_ALLOW_THREADS
        if (failed)
            PyErr_NoMemory();
        else
            result = PyBytes_FromStringAndSize(buffer.p ? buffer.p : "", (Py_ssize_t)buffer.n);
    }
    PyMem_RawFree(records);
    PyMem_RawFree(stamps);
    free(buffer.p);
    return result;
}

static PyMethodDef methods[] = {
    {"request_lines", request_lines, METH_VARARGS,
     "request_lines(batch, offset) -> bytes: the JSON lines of a RequestBatch (see http_access_log)."},
    {"request_started", (PyCFunction)(void (*)(void))request_started, METH_FASTCALL,
     "request_started(session, head): note a logged request's start on its session."},
    {"request_finished", (PyCFunction)(void (*)(void))request_finished, METH_FASTCALL,
     "request_finished(session, status, upstream_status=0, sent=0): hand the request to the listener's log."},
    {"configure", configure, METH_O, "configure(connection_fields): how a session's connection fields are read."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_access_lines", .m_size = 0,
                                    .m_methods = methods};

PyMODINIT_FUNC PyInit__access_lines(void)
{
    PyObject *created = PyModule_Create(&module);
    if (created != NULL && records_ready(created)) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
