/* HAProxy's HTTP request lines, read from the ring's TCP stream and completed into CLS lines.
 *
 * The compiled twin of log_lines.complete_frames_py (see log_lines.py for the line's shape and
 * why each field is completed as it is): for a chunk of octet-counted frames it returns
 * (dict listener id -> its completed lines end to end, list of frames left to Python, bytes
 * used), so Python handles a few objects per chunk instead of several per line. Both must give
 * the same bytes: tests/unit/test_haproxy_log_lines.py compares them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_FRAME_BYTES (1 << 20)
#define MAX_MS_DIGITS 15
#define TAIL "\"request_time\":"
#define NO_TARGET "\"upstream_addr\":\"-:-\""
#define NO_TARGET_FIX "\"upstream_addr\":\"-\""
#define LENGTH "\"request_length\":"
#define NOT_PARSED_FIX "\"request_length\":0,"

typedef struct {
    char *data;
    Py_ssize_t size, room;
} Text;

typedef struct {
    const char *key;
    Py_ssize_t key_size;
    Text text;
} Group;

static int text_add(Text *t, const char *p, Py_ssize_t n) {
    if (t->size + n > t->room) {
        Py_ssize_t room = t->room ? t->room : 4096;
        while (room < t->size + n)
            room *= 2;
        char *grown = PyMem_Realloc(t->data, room);
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        t->data = grown;
        t->room = room;
    }
    memcpy(t->data + t->size, p, n);
    t->size += n;
    return 0;
}

static const char *find(const char *p, Py_ssize_t n, const char *what, Py_ssize_t w) {
    return w <= n ? memmem(p, n, what, w) : NULL;
}

/* The message split at its first six spaces into seven parts; 0 when it has fewer. */
static int split7(const char *p, Py_ssize_t n, const char **part, Py_ssize_t *len) {
    const char *end = p + n;
    for (int i = 0; i < 6; i++) {
        const char *space = memchr(p, ' ', end - p);
        if (!space)
            return 0;
        part[i] = p;
        len[i] = space - p;
        p = space + 1;
    }
    part[6] = p;
    len[6] = end - p;
    return 1;
}

static int is_ascii(const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        if (word & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 0;
    return 1;
}

/* The last ``what`` in [p, p + n). */
static const char *find_last(const char *p, Py_ssize_t n, const char *what, Py_ssize_t w) {
    for (const char *at = p + n - w; at >= p; at--)
        if (*at == *what && memcmp(at, what, w) == 0)
            return at;
    return NULL;
}

static int same(const char *p, Py_ssize_t n, const char *s) {
    return (Py_ssize_t)strlen(s) == n && memcmp(p, s, n) == 0;
}

/* ``value`` milliseconds as seconds with three decimals ("12.345"); returns the length. */
static int format_seconds(char *into, long long value) {
    char digits[24];
    int n = 0;
    long long whole = value / 1000;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    int size = 0;
    while (n)
        into[size++] = digits[--n];
    int thousandths = (int)(value % 1000);
    into[size++] = '.';
    into[size++] = (char)('0' + thousandths / 100);
    into[size++] = (char)('0' + thousandths / 10 % 10);
    into[size++] = (char)('0' + thousandths % 10);
    return size;
}

/* Appends the completed line to the group of its listener: 1 done, 0 not a line this reads, -1 error. */
static int complete(const char *msg, Py_ssize_t n, Group **groups, Py_ssize_t *count, Py_ssize_t *room) {
    const char *part[7];
    Py_ssize_t len[7];
    while (n > 0 && msg[n - 1] == '\n')
        n--;
    if (!split7(msg, n, part, len) || !same(part[0], len[0], "H"))
        return 0;
    const char *head = part[6];
    Py_ssize_t head_size = len[6], tail = sizeof(TAIL) - 1;
    if (head_size < tail || memcmp(head + head_size - tail, TAIL, tail) != 0)
        return 0;
    if (!is_ascii(part[1], len[1]) || !is_ascii(part[4], len[4]))
        return 0;
    const char *ms = part[2];
    Py_ssize_t ms_size = len[2];
    int negative = ms_size > 0 && ms[0] == '-';
    if (negative) {
        ms++;
        ms_size--;
    }
    if (ms_size == 0 || ms_size > MAX_MS_DIGITS)
        return 0;
    long long value = 0;
    for (Py_ssize_t i = 0; i < ms_size; i++) {
        if (ms[i] < '0' || ms[i] > '9')
            return 0;
        value = value * 10 + (ms[i] - '0');
    }
    if (negative)
        value = 0;
    if (!is_ascii(head, head_size)) {
        PyObject *checked = PyUnicode_DecodeUTF8(head, head_size, NULL);
        if (!checked) {
            PyErr_Clear();
            return 0;
        }
        Py_DECREF(checked);
    }
    const char *end = head + head_size;
    const char *target = find(head, head_size, NO_TARGET, sizeof(NO_TARGET) - 1);
    const char *after = target ? target + sizeof(NO_TARGET) - 1 : head;
    const char *parsed = find_last(after, end - after, LENGTH, sizeof(LENGTH) - 1);
    if (parsed && (end - parsed < (Py_ssize_t)sizeof(LENGTH) + 1 || memcmp(parsed + sizeof(LENGTH) - 1, "-,", 2) != 0))
        parsed = NULL;
    Group *group = NULL;
    for (Py_ssize_t i = 0; i < *count; i++)
        if ((*groups)[i].key_size == len[1] && memcmp((*groups)[i].key, part[1], len[1]) == 0) {
            group = &(*groups)[i];
            break;
        }
    if (!group) {
        if (*count == *room) {
            Py_ssize_t grown_room = *room ? *room * 2 : 8;
            Group *grown = PyMem_Realloc(*groups, grown_room * sizeof(Group));
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
            *groups = grown;
            *room = grown_room;
        }
        group = &(*groups)[(*count)++];
        group->key = part[1];
        group->key_size = len[1];
        group->text = (Text){NULL, 0, 0};
    }
    Text *out = &group->text;
    const char *from = head;
    if (target) {
        if (text_add(out, from, target - from) || text_add(out, NO_TARGET_FIX, sizeof(NO_TARGET_FIX) - 1))
            return -1;
        from = after;
    }
    if (parsed) {
        if (text_add(out, from, parsed - from) || text_add(out, NOT_PARSED_FIX, sizeof(NOT_PARSED_FIX) - 1))
            return -1;
        from = parsed + sizeof(LENGTH) + 1;
    }
    if (text_add(out, from, end - from))
        return -1;
    char seconds[40];
    int seconds_size = format_seconds(seconds, value);
    static const char upstream_field[] = ",\"upstream_response_time\":";
    static const char requests_field[] = ",\"connection_requests\":";
    if (text_add(out, seconds, seconds_size) || text_add(out, upstream_field, sizeof(upstream_field) - 1))
        return -1;
    if (same(part[3], len[3], "-") ? text_add(out, "\"-\"", 3) : text_add(out, seconds, seconds_size))
        return -1;
    if (text_add(out, requests_field, sizeof(requests_field) - 1))
        return -1;
    if (same(part[4], len[4], "-") ? text_add(out, "1", 1) : text_add(out, part[4], len[4]))
        return -1;
    return text_add(out, "}\n", 2) ? -1 : 1;
}

static int all_digits(const char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return n > 0;
}

static PyObject *framing_error(const char *p, Py_ssize_t n) {
    PyObject *excerpt = PyBytes_FromStringAndSize(p, n < 16 ? n : 16);
    if (excerpt) {
        PyErr_SetObject(PyExc_ValueError, excerpt);
        Py_DECREF(excerpt);
    }
    return NULL;
}

static PyObject *complete_frames(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const char *data = view.buf;
    Py_ssize_t end = view.len, at = 0, count = 0, room = 0;
    Group *groups = NULL;
    PyObject *others = PyList_New(0), *result = NULL, *by_listener = NULL;
    if (!others)
        goto done;
    while (at < end) {
        Py_ssize_t window = end - at < 8 ? end - at : 8;
        const char *space = memchr(data + at, ' ', window);
        if (!space) {
            if (end - at >= 8 || !all_digits(data + at, end - at)) {
                framing_error(data + at, end - at);
                goto done;
            }
            break;
        }
        Py_ssize_t digits = space - (data + at), size = 0;
        if (!all_digits(data + at, digits)) {
            framing_error(data + at, end - at);
            goto done;
        }
        for (Py_ssize_t i = 0; i < digits; i++)
            size = size * 10 + (data[at + i] - '0');
        if (size > MAX_FRAME_BYTES) {
            framing_error(data + at, end - at);
            goto done;
        }
        Py_ssize_t start = at + digits + 1, stop = start + size;
        if (stop > end)
            break;
        at = stop;
        const char *message = data + start;
        if (size >= 2 && message[0] == 'H' && message[1] == ' ') {
            const char *part[7];
            Py_ssize_t len[7];
            if (split7(message, size, part, len) && !same(part[5], len[5], "-"))
                continue;
            int done_line = complete(message, size, &groups, &count, &room);
            if (done_line < 0)
                goto done;
            if (done_line)
                continue;
        }
        PyObject *frame = PyBytes_FromStringAndSize(message, size);
        if (!frame || PyList_Append(others, frame) < 0) {
            Py_XDECREF(frame);
            goto done;
        }
        Py_DECREF(frame);
    }
    by_listener = PyDict_New();
    if (!by_listener)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyUnicode_DecodeASCII(groups[i].key, groups[i].key_size, NULL);
        PyObject *text = key ? PyUnicode_DecodeUTF8(groups[i].text.data, groups[i].text.size, NULL) : NULL;
        int failed = !text || PyDict_SetItem(by_listener, key, text) < 0;
        Py_XDECREF(key);
        Py_XDECREF(text);
        if (failed)
            goto done;
    }
    result = Py_BuildValue("(OOn)", by_listener, others, at);
done:
    for (Py_ssize_t i = 0; i < count; i++)
        PyMem_Free(groups[i].text.data);
    PyMem_Free(groups);
    Py_XDECREF(by_listener);
    Py_XDECREF(others);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"complete_frames", complete_frames, METH_O,
     "complete_frames(buffer) -> (dict listener id -> completed lines, list of other frames, bytes used)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_log_lines", NULL, -1, methods};

PyMODINIT_FUNC PyInit__log_lines(void) {
    return PyModule_Create(&module);
}
