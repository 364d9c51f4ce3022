/*
 * parsers.edifact._tokenizer -- optional C accelerator of the reader's batch path.
 *
 * tokenize(text, start, base, window, first_position, replaced,
 *          element, component, release, repetition, terminator, allowed)
 *     -> (segments, stops, until)
 *
 * Cuts the decoded chunk ``text`` (one character per byte: a single-byte
 * codec) from index ``start`` into segments at unreleased terminators, for
 * about ``window`` characters, and splits every *plain* segment into its tag
 * and element/component lists, building ``Segment`` objects directly.
 *
 * A segment is plain when, after its leading blanks (" \t\r\n\x1a"), it holds
 * no (unreleased) repetition character, no U+FFFD (when ``replaced``), no
 * character below U+0100 that ``allowed`` (a 256-byte table, or None for "any")
 * refuses (characters above U+00FF come from the ISO 8859 parts' upper halves,
 * which no table restricts), and its
 * tag (the text before the first element separator) is three characters
 * without a component separator or release character. A plain segment may hold
 * release characters: each is dropped and the character after it kept as data
 * (what ``_SegmentDecoder._split_released`` does); ``Segment.text`` is then
 * None, else the segment's text. For any other segment ``segments`` holds None
 * and the Python reader decodes its raw bytes on the per-segment path. The
 * pure-Python batch path (``_Reader._read_batches``) is the reference:
 * tests/test_tokenizer_accelerator.py compares the two.
 *
 * ``stops`` lists, in order, (index, file offset, terminator offset, odd) for
 * the segments that are not plain (odd = True) and for the service segments
 * UNA/UNB/UNH/UNT/UNG/UNE/UNZ (odd = False). ``until`` is the index just after
 * the last terminator consumed; ``until == start`` when ``text[start:]`` holds
 * no complete segment. Blank-only pieces are no segments (no index).
 *
 * configure(Segment) must be called once: it records the offsets of the
 * class's __slots__ (tag, elements, position, offset, repetitions, text) so
 * that Segment objects are allocated and filled without running __init__.
 * Every check on those slots is made there; tokenize refuses to run before.
 *
 * Garbage collection: the Segment objects and their element and component
 * lists are untracked by the cyclic GC (PyObject_GC_UnTrack, as CPython does
 * for tuples and dicts of atomic values). They hold only str, int and None
 * and untracked lists, so they cannot be part of a reference cycle unless a
 * consumer stores a container into them; untracked, the collector never
 * traverses them (a third of the reader's time otherwise). Reference counting
 * frees them as usual.
 *
 * Memory safety: every index is checked against the string length before it
 * is read, every allocation is checked, and on an error every new reference
 * is released before NULL is returned.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_segment_slots.h"
#include <string.h>

#define TAG_CACHE_SIZE 4096

static PyTypeObject *segment_type = NULL;
static Py_ssize_t off_tag, off_elements, off_position, off_offset, off_repetitions, off_text;

typedef struct {
    Py_UCS4 key; /* length and latin-1 characters, packed */
    PyObject *tag;
} tag_entry;

static tag_entry tag_cache[TAG_CACHE_SIZE];


static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *cls)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "configure() expects the Segment class");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || type->tp_itemsize != 0 || type->tp_alloc == NULL ||
        type->tp_dictoffset != 0 || type->tp_dict == NULL) {
        PyErr_SetString(PyExc_TypeError, "Segment must be a __slots__ class without __dict__");
        return NULL;
    }
    Py_ssize_t offsets[6];
    const char *names[6] = {"tag", "elements", "position", "offset", "repetitions", "text"};
    for (int i = 0; i < 6; i++) {
        if (segment_slot_offset(type, names[i], &offsets[i]) < 0) {
            return NULL;
        }
    }
    Py_INCREF(cls);
    Py_XSETREF(segment_type, type);
    off_tag = offsets[0];
    off_elements = offsets[1];
    off_position = offsets[2];
    off_offset = offsets[3];
    off_repetitions = offsets[4];
    off_text = offsets[5];
    Py_RETURN_NONE;
}

#define UNTRACK(obj) PyObject_GC_UnTrack(obj)

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* A new reference to text[a:a+n] for n = 2 or 3 (tags, qualifiers, codes):
 * strings of latin-1 characters come from a small direct-mapped cache, so
 * the many repeated ones are not allocated again. Tags are interned. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

ALWAYS_INLINE PyObject *
make_small(PyObject *text, int kind, const void *data, Py_ssize_t a, Py_ssize_t n, int intern)
{
    Py_UCS4 c0 = PyUnicode_READ(kind, data, a), c1 = PyUnicode_READ(kind, data, a + 1),
            c2 = n == 3 ? PyUnicode_READ(kind, data, a + 2) : 0;
    if (c0 > 0xff || c1 > 0xff || c2 > 0xff) {
        return PyUnicode_Substring(text, a, a + n);
    }
    Py_UCS4 key = ((Py_UCS4)n << 24) | (c0 << 16) | (c1 << 8) | c2;
    tag_entry *entry = &tag_cache[(Py_UCS4)(key * 2654435761u) >> 20 & (TAG_CACHE_SIZE - 1)];
    if (entry->tag != NULL && entry->key == key) {
        Py_INCREF(entry->tag);
        return entry->tag;
    }
    PyObject *value = PyUnicode_Substring(text, a, a + n);
    if (value == NULL) {
        return NULL;
    }
    if (intern) {
        PyUnicode_InternInPlace(&value);
    }
    Py_INCREF(value);
    Py_XSETREF(entry->tag, value);
    entry->key = key;
    return value;
}

static inline int
is_blank(Py_UCS4 ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == 0x1a;
}

/* Append a new reference and drop it; -1 on error (the reference is dropped too). */
static inline int
append_steal(PyObject *list, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *
one_char(PyObject *arg, const char *what, int optional, Py_UCS4 *out)
{
    if (optional && arg == Py_None) {
        *out = (Py_UCS4)-1; /* never equal to a character */
        return arg;
    }
    if (!PyUnicode_Check(arg) || PyUnicode_READY(arg) < 0 || PyUnicode_GET_LENGTH(arg) != 1) {
        PyErr_Format(PyExc_TypeError, "%s must be a one-character str%s", what, optional ? " or None" : "");
        return NULL;
    }
    *out = PyUnicode_READ_CHAR(arg, 0);
    return arg;
}

static PyObject *
build_segment(PyObject *tag, PyObject *elements, Py_ssize_t position, Py_ssize_t offset, PyObject *text)
{
    /* Takes the references to tag, elements and text, even on failure. */
    PyObject *pos = PyLong_FromSsize_t(position);
    PyObject *off = pos ? PyLong_FromSsize_t(offset) : NULL;
    PyObject *segment = off ? segment_type->tp_alloc(segment_type, 0) : NULL;
    if (segment == NULL) {
        Py_XDECREF(pos);
        Py_XDECREF(off);
        Py_DECREF(tag);
        Py_DECREF(elements);
        Py_DECREF(text);
        return NULL;
    }
    SLOT(segment, off_tag) = tag;
    SLOT(segment, off_elements) = elements;
    SLOT(segment, off_position) = pos;
    SLOT(segment, off_offset) = off;
    Py_INCREF(Py_None);
    SLOT(segment, off_repetitions) = Py_None;
    SLOT(segment, off_text) = text;
    UNTRACK(segment);
    return segment;
}

/* A new reference to text[a:b]. ``ascii``: the characters are known to be
 * ASCII, so a one-byte string is copied without looking for its largest
 * character (what PyUnicode_Substring does for a text that is not all ASCII). */
ALWAYS_INLINE PyObject *
substring(PyObject *text, int kind, const void *data, Py_ssize_t a, Py_ssize_t b, int ascii)
{
    Py_ssize_t n = b - a;
    if (kind == PyUnicode_1BYTE_KIND && ascii && n > 1) { /* 0 and 1 characters: CPython's cached strings */
        PyObject *value = PyUnicode_New(n, 127);
        if (value != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(value), (const Py_UCS1 *)data + a, (size_t)n);
        }
        return value;
    }
    return PyUnicode_Substring(text, a, b);
}

/* A new reference to the value text[a:b]; with a release character (``rel``
 * is (Py_UCS4)-1 when the segment holds none) each release character is
 * dropped and the character after it kept, whatever it is. */
ALWAYS_INLINE PyObject *
make_value(PyObject *text, int kind, const void *data, Py_ssize_t a, Py_ssize_t b, Py_UCS4 rel, Py_UCS4 *buf, int ascii)
{
    if (buf == NULL) {
        if (b - a == 2 || b - a == 3) {
            return make_small(text, kind, data, a, b - a, 0);
        }
        return substring(text, kind, data, a, b, ascii);
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t j = a; j < b; j++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, j);
        if (ch == rel) {
            if (++j >= b) {
                break; /* a lone release character at the end drops out */
            }
            ch = PyUnicode_READ(kind, data, j);
        }
        buf[n++] = ch;
    }
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n);
}

#define LOCAL_CUTS 256

/* The elements of text[t:q] (text[t] is an element separator, or t == q) as a
 * new list of lists of str, both untracked by the cyclic GC (see UNTRACK).
 * A first pass finds where each component ends (the separators), so that
 * every list is made at its size. */
ALWAYS_INLINE PyObject *
split_elements(PyObject *text, int kind, const void *data, Py_ssize_t t, Py_ssize_t q, Py_UCS4 el, Py_UCS4 comp,
               Py_UCS4 rel, int ascii)
{
    /* ends[k]: the end of component k; counts[i]: the components of element i.
     * A segment of q - t characters has at most q - t + 1 of either. */
    Py_ssize_t local_ends[LOCAL_CUTS], local_counts[LOCAL_CUTS];
    Py_ssize_t *ends = local_ends, *counts = local_counts;
    Py_UCS4 *buf = NULL;
    if (q - t + 1 > LOCAL_CUTS) {
        ends = PyMem_New(Py_ssize_t, q - t + 1);
        counts = PyMem_New(Py_ssize_t, q - t + 1);
        if (ends == NULL || counts == NULL) {
            PyMem_Free(ends);
            PyMem_Free(counts);
            PyErr_NoMemory();
            return NULL;
        }
    }
    PyObject *elements = NULL;
    Py_ssize_t n_elements = 0, n_ends = 0;
    Py_ssize_t e = t;
    while (e < q) { /* here text[e] is an element separator */
        e++;
        Py_ssize_t count = 1;
        while (e < q) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, e);
            if (ch == el) {
                break;
            }
            if (ch == rel) {
                e += 2; /* the released character is data */
                continue;
            }
            if (ch == comp) {
                ends[n_ends++] = e;
                count++;
            }
            e++;
        }
        if (e > q) {
            e = q;
        }
        ends[n_ends++] = e;
        counts[n_elements++] = count;
    }
    if (rel != (Py_UCS4)-1) {
        buf = PyMem_New(Py_UCS4, q - t + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    elements = PyList_New(n_elements);
    if (elements == NULL) {
        goto done;
    }
    Py_ssize_t a = t + 1, k = 0;
    for (Py_ssize_t i = 0; i < n_elements; i++) {
        PyObject *components = PyList_New(counts[i]);
        if (components == NULL) {
            Py_CLEAR(elements);
            goto done;
        }
        PyList_SET_ITEM(elements, i, components); /* a list with NULL items is freed safely */
        for (Py_ssize_t j = 0; j < counts[i]; j++, k++) {
            PyObject *value = make_value(text, kind, data, a, ends[k], rel, buf, ascii);
            if (value == NULL) {
                Py_CLEAR(elements);
                goto done;
            }
            PyList_SET_ITEM(components, j, value);
            a = ends[k] + 1;
        }
        UNTRACK(components);
    }
    UNTRACK(elements);

done:
    PyMem_Free(buf);
    if (ends != local_ends) {
        PyMem_Free(ends);
        PyMem_Free(counts);
    }
    return elements;
}

ALWAYS_INLINE PyObject *cut(PyObject *text, int kind, const void *data, Py_ssize_t len, Py_ssize_t start,
                            Py_ssize_t base, Py_ssize_t window, Py_ssize_t first, int replaced, Py_UCS4 el,
                            Py_UCS4 comp, Py_UCS4 rel, Py_UCS4 rep, Py_UCS4 term, const unsigned char *allowed);

static PyObject *
tokenize(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (segment_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tokenize() before configure()");
        return NULL;
    }
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "tokenize() takes 12 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text) || PyUnicode_READY(text) < 0) {
        PyErr_SetString(PyExc_TypeError, "text must be a str");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t base = start == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[2]);
    Py_ssize_t window = base == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[3]);
    Py_ssize_t first = window == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[4]);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int replaced = PyObject_IsTrue(args[5]);
    if (replaced < 0) {
        return NULL;
    }
    Py_UCS4 el, comp, rel, rep, term;
    if (!one_char(args[6], "element", 0, &el) || !one_char(args[7], "component", 0, &comp) ||
        !one_char(args[8], "release", 1, &rel) || !one_char(args[9], "repetition", 1, &rep) ||
        !one_char(args[10], "terminator", 0, &term)) {
        return NULL;
    }
    const unsigned char *allowed = NULL;
    if (args[11] != Py_None) {
        if (!PyBytes_Check(args[11]) || PyBytes_GET_SIZE(args[11]) != 256) {
            PyErr_SetString(PyExc_TypeError, "allowed must be a 256-byte bytes object or None");
            return NULL;
        }
        allowed = (const unsigned char *)PyBytes_AS_STRING(args[11]);
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (start < 0 || start > len || window < 1 || base < 0 || base > PY_SSIZE_T_MAX - len || first < 0 ||
        first > PY_SSIZE_T_MAX - len) {
        PyErr_SetString(PyExc_ValueError, "start, base or first_position out of range, or window < 1");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    /* the same code, compiled once with one-byte reads (single-byte codecs: the usual case) */
    if (kind == PyUnicode_1BYTE_KIND) {
        return cut(text, PyUnicode_1BYTE_KIND, data, len, start, base, window, first, replaced, el, comp, rel, rep, term,
                   allowed);
    }
    return cut(text, kind, data, len, start, base, window, first, replaced, el, comp, rel, rep, term, allowed);
}

/* tokenize's work, once its arguments are checked. */
ALWAYS_INLINE PyObject *
cut(PyObject *text, int kind, const void *data, Py_ssize_t len, Py_ssize_t start, Py_ssize_t base, Py_ssize_t window,
    Py_ssize_t first, int replaced, Py_UCS4 el, Py_UCS4 comp, Py_UCS4 rel, Py_UCS4 rep, Py_UCS4 term,
    const unsigned char *allowed)
{
    PyObject *segments = PyList_New(0);
    PyObject *stops = PyList_New(0);
    if (segments == NULL || stops == NULL) {
        goto error;
    }
    Py_ssize_t i = start; /* start of the next piece */
    Py_ssize_t k = 0;     /* index of the next segment */
    while (i < len) {
        Py_ssize_t p = i;
        while (p < len && is_blank(PyUnicode_READ(kind, data, p))) {
            p++;
        }
        /* Find the terminator; note what makes the segment odd on the way. */
        Py_ssize_t q = p;
        int odd = 0, released = 0;
        Py_UCS4 seen = 0; /* every character of the segment, or-ed: < 0x80 when all are ASCII */
        while (q < len) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, q);
            seen |= ch;
            if (ch == term) {
                break;
            }
            if (ch == rel) { /* the released character is data, whatever it is */
                released = 1;
                if (++q >= len) {
                    break;
                }
                ch = PyUnicode_READ(kind, data, q);
            }
            if (ch == rep || (replaced && ch == 0xfffd) || (allowed != NULL && ch <= 0xff && !allowed[ch])) {
                odd = 1;
            }
            q++;
        }
        if (q >= len) {
            break; /* no terminator: the tail waits for the next chunk */
        }
        i = q + 1;
        if (p == q) {
            if (i - start >= window) {
                break;
            }
            continue; /* a blank-only piece is no segment */
        }
        Py_ssize_t t = p; /* end of the tag */
        while (t < q) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, t);
            if (ch == el) {
                break;
            }
            if (ch == comp || ch == rel) {
                odd = 1; /* the per-segment path rebuilds such tags */
            }
            t++;
        }
        if (t - p != 3) {
            odd = 1;
        }
        if (odd) {
            if (append_steal(segments, Py_NewRef(Py_None)) < 0 ||
                append_steal(stops, Py_BuildValue("(nnnO)", k, base + p, base + q, Py_True)) < 0) {
                goto error;
            }
            k++;
            if (i - start >= window) {
                break;
            }
            continue;
        }
        int service = PyUnicode_READ(kind, data, p) == 'U' && PyUnicode_READ(kind, data, p + 1) == 'N';
        if (service) {
            Py_UCS4 c = PyUnicode_READ(kind, data, p + 2);
            service = c == 'A' || c == 'B' || c == 'H' || c == 'T' || c == 'G' || c == 'E' || c == 'Z';
        }
        int ascii = seen < 0x80;
        PyObject *elements = split_elements(text, kind, data, t, q, el, comp, released ? rel : (Py_UCS4)-1, ascii);
        if (elements == NULL) {
            goto error;
        }
        PyObject *tag = make_small(text, kind, data, p, 3, 1);
        if (tag == NULL) {
            Py_DECREF(elements);
            goto error;
        }
        PyObject *raw = released ? Py_NewRef(Py_None) : substring(text, kind, data, p, q, ascii);
        if (raw == NULL) {
            Py_DECREF(tag);
            Py_DECREF(elements);
            goto error;
        }
        PyObject *segment = build_segment(tag, elements, first + k, base + p, raw);
        if (append_steal(segments, segment) < 0) {
            goto error;
        }
        if (service &&
            append_steal(stops, Py_BuildValue("(nnnO)", k, base + p, base + q, Py_False)) < 0) {
            goto error;
        }
        k++;
        if (i - start >= window) {
            break;
        }
    }
    return Py_BuildValue("(NNn)", segments, stops, i);

error:
    Py_XDECREF(segments);
    Py_XDECREF(stops);
    return NULL;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)configure, METH_O, "Record the slot offsets of the Segment class."},
    {"tokenize", (PyCFunction)(void (*)(void))tokenize, METH_FASTCALL,
     "Cut and split the plain segments of a decoded chunk (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_tokenizer", "C accelerator of the EDIFACT reader's batch path.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__tokenizer(void)
{
    return PyModule_Create(&module_def);
}
