/*
 * mappings._cusdec_lines -- optional C accelerator of the CUSDEC fast path's
 * detail section: ``_lines`` and ``_new_line`` of mappings/cusdec_fast.py, the
 * reference (tests/test_cusdec_lines_accelerator.py compares the two).
 *
 * Mapper(segment_class, decimal_type, plain_amounts, tax_amounts, digit_limits)
 *     ``segment_class`` is parsers.edifact.model.Segment: the offsets of its
 *     ``tag`` and ``elements`` __slots__ are recorded, so that segments are
 *     read without attribute lookups (every check on the slots is made here).
 *     ``decimal_type`` (decimal.Decimal) is called with the str of every
 *     non-empty number. ``plain_amounts`` and ``tax_amounts`` are
 *     cusdec_fast.PLAIN_AMOUNTS (MOA qualifier -> line field) and TAX_AMOUNTS
 *     (TAX type -> such a dict): they are copied, keeping their str objects
 *     (the line dicts have the Python path's keys); a TAX of a type not in
 *     ``tax_amounts`` maps no MOA after it (cusdec_fast.NO_AMOUNTS, empty).
 *     ``digit_limits`` is domain.checked_amounts.LINE_DIGIT_LIMITS (line field
 *     -> (integer digits, decimal places)): a number of a field it names must
 *     fit them as ``amount_fits`` tells, or the walk gives up.
 *
 * Mapper.lines(segments, start, lines, numbers) -> int | None
 *     ``segments`` is a message's list of segments and ``start`` the index of
 *     the segment after UNS+D. Maps the detail section as ``_lines`` does:
 *     appends a dict per CST group to the list ``lines`` and the text of every
 *     number read for a field without digit limits to the list ``numbers``
 *     (the others are checked as they are read), and returns the index after UNS+S;
 *     or returns None where ``_lines`` raises _Unusual or IndexError (give
 *     up; the lists are then left half filled). An exception raised by
 *     ``decimal_type`` (InvalidOperation) or by int() of a line number (the
 *     ValueError of the int digits limit) propagates, as in Python.
 *
 * Conservative (gives up where Python might not): a segment that is not
 * exactly a Segment, an unset or non-str tag, and an element, component or
 * elements list that the Python code reads and that is not an exact list or
 * an exact str (the reader builds only those).
 *
 * Safety: ``decimal_type`` may be Python code, and so may the finalizers the
 * cyclic GC runs when a dict is allocated; such code could change the
 * segments under the walk. So the length of ``segments`` is read again for
 * every segment, the current segment's elements list and the current line
 * are held by strong references, and so is every object read again after
 * such a call (a number's text, MOA's component list). Between other
 * allocations (str, int, dict items) no Python code can run, and borrowed
 * references are used there. Every allocation is checked; a Mapper holds only
 * the Segment class, ``decimal_type`` and dicts of str and int (no reference cycle
 * through it).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#include "../parsers/edifact/_segment_slots.h"
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyTypeObject *segment_type;
    Py_ssize_t off_tag, off_elements;
    PyObject *decimal_type;
    PyObject *plain_amounts; /* MOA qualifier -> line field (a private copy) */
    PyObject *tax_amounts;   /* TAX type -> qualifier -> line field (a private copy) */
    PyObject *digit_limits;  /* line field -> int: integer digits << 8 | decimal places */
} Mapper;

/* The keys of the line fields not named by the amount tables (interned). */
static PyObject *key_line_number, *key_hs_code, *key_tariff_treatment, *key_description, *key_country_of_origin,
    *key_unit, *key_quantity, *key_duty_rate;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Construction -------------------------------------------------------------- */

/* What a table's value becomes in the Mapper's copy: a new reference, or NULL
 * with an exception set. */
typedef PyObject *(*convert_value)(PyObject *value);

/* A new dict with the items of ``table`` (``what``, for errors), whose keys
 * must be exact str, each value converted. */
static PyObject *
copy_dict(PyObject *table, convert_value convert, const char *what)
{
    if (!PyDict_CheckExact(table)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict", what);
        return NULL;
    }
    PyObject *copy = PyDict_New();
    if (copy == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(table, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            PyErr_Format(PyExc_TypeError, "%s must have str keys", what);
            Py_DECREF(copy);
            return NULL;
        }
        PyObject *item = convert(value);
        if (item == NULL || PyDict_SetItem(copy, key, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(copy);
            return NULL;
        }
        Py_DECREF(item);
    }
    return copy;
}

/* A field name of an amounts table (PLAIN_AMOUNTS: MOA qualifier -> field). */
static PyObject *
field_name(PyObject *value)
{
    if (!PyUnicode_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "an amounts table must map str to str");
        return NULL;
    }
    return Py_NewRef(value);
}

/* An amounts table, copied (a value of TAX_AMOUNTS: TAX type -> amounts table). */
static PyObject *
amounts_table(PyObject *value)
{
    return copy_dict(value, field_name, "an amounts table");
}

/* A field's (integer digits, decimal places), packed as integer digits << 8 | places. */
static PyObject *
packed_limits(PyObject *value)
{
    long whole = -1, places = -1;
    if (PyTuple_CheckExact(value) && PyTuple_GET_SIZE(value) == 2) {
        whole = PyLong_AsLong(PyTuple_GET_ITEM(value, 0));
        places = whole == -1 && PyErr_Occurred() ? -1 : PyLong_AsLong(PyTuple_GET_ITEM(value, 1));
    }
    if (whole < 0 || whole > 255 || places < 0 || places > 255) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "digit_limits must map str to (int, int), each from 0 to 255");
        }
        return NULL;
    }
    return PyLong_FromLong(whole << 8 | places);
}

static void
mapper_dealloc(Mapper *self)
{
    Py_XDECREF(self->segment_type);
    Py_XDECREF(self->decimal_type);
    Py_XDECREF(self->plain_amounts);
    Py_XDECREF(self->tax_amounts);
    Py_XDECREF(self->digit_limits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
mapper_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"segment_class", "decimal_type", "plain_amounts", "tax_amounts", "digit_limits", NULL};
    PyObject *cls, *decimal_type, *plain, *tax, *limits;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO:Mapper", keywords, &cls, &decimal_type, &plain, &tax, &limits)) {
        return NULL;
    }
    if (!PyCallable_Check(decimal_type)) {
        PyErr_SetString(PyExc_TypeError, "decimal_type must be callable");
        return NULL;
    }
    Mapper *self = (Mapper *)type->tp_alloc(type, 0); /* zeroed */
    if (self == NULL) {
        return NULL;
    }
    self->decimal_type = Py_NewRef(decimal_type);
    if (segment_tag_and_elements(cls, &self->segment_type, &self->off_tag, &self->off_elements) < 0 ||
        (self->plain_amounts = amounts_table(plain)) == NULL ||
        (self->tax_amounts = copy_dict(tax, amounts_table, "tax_amounts")) == NULL ||
        (self->digit_limits = copy_dict(limits, packed_limits, "digit_limits")) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Reading segments -------------------------------------------------------------
 * Functions returning int return 1 to go on, 0 to give up, -1 on an error
 * (with an exception set). Those returning an object return NULL both to give
 * up and on an error; ``stop()`` tells which. */

static int
stop(void)
{
    return PyErr_Occurred() ? -1 : 0;
}

/* ``obj`` when it is an exact str, else NULL. */
static PyObject *
text(PyObject *obj)
{
    if (obj == NULL || !PyUnicode_CheckExact(obj) || PyUnicode_READY(obj) < 0) {
        return NULL;
    }
    return obj;
}

/* Python's unguarded ``seq[index]`` (index >= 0), borrowed: NULL when it
 * would raise IndexError, or ``seq`` is not an exact list. */
static PyObject *
item(PyObject *seq, Py_ssize_t index)
{
    if (seq == NULL || !PyList_CheckExact(seq) || index >= PyList_GET_SIZE(seq)) {
        return NULL;
    }
    return PyList_GET_ITEM(seq, index);
}

/* ``elements[e][c]`` read without a guard, as an exact str (borrowed), or NULL. */
static PyObject *
component(PyObject *elements, Py_ssize_t e, Py_ssize_t c)
{
    return text(item(item(elements, e), c));
}

static inline int
empty(PyObject *str)
{
    return PyUnicode_GET_LENGTH(str) == 0;
}

/* Whether the str ``str`` is the ASCII text ``ascii``. */
static int
equals(PyObject *str, const char *ascii)
{
    size_t len = strlen(ascii);
    return PyUnicode_GET_LENGTH(str) == (Py_ssize_t)len && PyUnicode_KIND(str) == PyUnicode_1BYTE_KIND &&
           memcmp(PyUnicode_1BYTE_DATA(str), ascii, len) == 0;
}

enum { TAG_OTHER, TAG_CST, TAG_MOA, TAG_TAX, TAG_FTX, TAG_LOC, TAG_MEA, TAG_UNS };

#define TAG3(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))

/* The tags ``_lines`` handles, by their three latin-1 characters. */
static int
tag_kind(PyObject *tag)
{
    if (PyUnicode_GET_LENGTH(tag) != 3 || PyUnicode_KIND(tag) != PyUnicode_1BYTE_KIND) {
        return TAG_OTHER;
    }
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(tag);
    switch (TAG3(c[0], c[1], c[2])) {
    case TAG3('C', 'S', 'T'): return TAG_CST;
    case TAG3('M', 'O', 'A'): return TAG_MOA;
    case TAG3('T', 'A', 'X'): return TAG_TAX;
    case TAG3('F', 'T', 'X'): return TAG_FTX;
    case TAG3('L', 'O', 'C'): return TAG_LOC;
    case TAG3('M', 'E', 'A'): return TAG_MEA;
    case TAG3('U', 'N', 'S'): return TAG_UNS;
    default: return TAG_OTHER;
    }
}

/* The lines ------------------------------------------------------------------ */

typedef struct {
    const Mapper *mapper;
    PyObject *lines, *numbers; /* the caller's lists */
    PyObject *line;            /* the current line (owned), NULL before the first CST */
    PyObject *amounts;         /* the current amounts table (the mapper's), NULL: none */
} walk_state;

/* ``line[key] = value`` for a str value read without a guard, when not empty. */
static int
put_text(PyObject *line, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        return stop();
    }
    return empty(value) || PyDict_SetItem(line, key, value) == 0 ? 1 : -1;
}

/* ``amount_fits(raw, (whole, places))``: ``raw`` is [0-9]+(.[0-9]+)? with at
 * most ``whole`` digits after its leading zeros before the dot and at most
 * ``places`` digits before its trailing zeros after it. */
static int
digits_fit(PyObject *raw, Py_ssize_t whole, Py_ssize_t places)
{
    if (PyUnicode_KIND(raw) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(raw);
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw), i = 0;
    while (i < n && c[i] == '0') {
        i++;
    }
    Py_ssize_t significant = i;
    while (i < n && c[i] >= '0' && c[i] <= '9') {
        i++;
    }
    if (i == 0 || i - significant > whole) {
        return 0;
    }
    if (i == n) {
        return 1;
    }
    if (c[i++] != '.') {
        return 0;
    }
    Py_ssize_t first = i, end = i; /* end: after the last non-zero decimal */
    for (; i < n && c[i] >= '0' && c[i] <= '9'; i++) {
        if (c[i] != '0') {
            end = i + 1;
        }
    }
    return i == n && i > first && end - first <= places;
}

/* ``line[key] = Decimal(raw)`` for a non-empty raw, which must fit the
 * ``digit_limits`` of ``key`` (else it gives up) or, when they do not name
 * ``key``, is appended to ``numbers`` (fitting, it is plain). */
static int
put_number(walk_state *w, PyObject *key, PyObject *raw)
{
    Py_INCREF(raw); /* Decimal() may drop the segment's own reference */
    PyObject *value = PyObject_CallOneArg(w->mapper->decimal_type, raw);
    int rc = value == NULL ? -1 : 1;
    if (rc > 0) {
        PyObject *limits = PyDict_GetItemWithError(w->mapper->digit_limits, key); /* borrowed from the mapper */
        if (limits == NULL) {
            rc = PyErr_Occurred() || PyList_Append(w->numbers, raw) < 0 ? -1 : 1;
        } else {
            long packed = PyLong_AsLong(limits);
            rc = digits_fit(raw, packed >> 8, packed & 0xff);
        }
    }
    if (rc > 0 && PyDict_SetItem(w->line, key, value) < 0) {
        rc = -1;
    }
    Py_XDECREF(value);
    Py_DECREF(raw);
    return rc;
}

/* int() of a str of ASCII digits: computed here when it fits a long long. */
static PyObject *
digits_value(PyObject *digits)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(digits);
    if (len > 18) {
        return PyLong_FromUnicodeObject(digits, 10); /* with int()'s limit on digits */
    }
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(digits);
    long long value = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        value = value * 10 + (data[i] - '0');
    }
    return PyLong_FromLongLong(value);
}

static int
ascii_digits(PyObject *str)
{
    if (PyUnicode_KIND(str) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(str);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(str); i++) {
        if (data[i] < '0' || data[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* ``_new_line``: the fields of a CST into ``line`` (a new, empty dict). */
static int
fill_line(PyObject *line, PyObject *elements)
{
    PyObject *number = component(elements, 0, 0);
    if (number == NULL) {
        return stop();
    }
    if (!empty(number)) {
        if (!ascii_digits(number)) {
            return 0;
        }
        PyObject *value = digits_value(number);
        int rc = value != NULL && PyDict_SetItem(line, key_line_number, value) == 0 ? 1 : -1;
        Py_XDECREF(value);
        if (rc < 0) {
            return -1;
        }
    }
    int rc = put_text(line, key_hs_code, component(elements, 1, 0));
    return rc <= 0 ? rc : put_text(line, key_tariff_treatment, component(elements, 2, 0));
}

/* CST: a new line, mapped with the amounts of no TAX. The dict is allocated
 * before the elements are read (allocating it may run the GC's finalizers). */
static int
on_cst(walk_state *w, PyObject *elements)
{
    PyObject *line = PyDict_New();
    if (line == NULL) {
        return -1;
    }
    int rc = fill_line(line, elements);
    if (rc > 0 && PyList_Append(w->lines, line) < 0) {
        rc = -1;
    }
    if (rc <= 0) {
        Py_DECREF(line);
        return rc;
    }
    Py_XSETREF(w->line, line);
    w->amounts = w->mapper->plain_amounts;
    return 1;
}

/* MOA+40's C516 6345, when given, must be CAD (``values`` is an exact list). */
static int
in_cad(PyObject *values)
{
    if (PyList_GET_SIZE(values) <= 2) {
        return 1;
    }
    PyObject *currency = text(PyList_GET_ITEM(values, 2));
    if (currency == NULL) {
        return stop();
    }
    return empty(currency) || equals(currency, "CAD");
}

/* MOA: the amount its qualifier names in the current table. */
static int
on_moa(walk_state *w, PyObject *elements)
{
    PyObject *values = item(elements, 0);
    PyObject *qualifier = text(item(values, 0));
    if (qualifier == NULL) {
        return stop();
    }
    if (w->amounts == NULL) {
        return 1;
    }
    PyObject *name = PyDict_GetItemWithError(w->amounts, qualifier); /* borrowed from the mapper's table */
    if (name == NULL) {
        return stop() < 0 ? -1 : 1;
    }
    PyObject *raw = text(item(values, 1));
    if (raw == NULL) {
        return stop();
    }
    Py_INCREF(values); /* read again after Decimal() */
    int rc = empty(raw) ? 1 : put_number(w, name, raw);
    if (rc > 0 && equals(name, "value_for_duty")) {
        rc = in_cad(values);
    }
    Py_DECREF(values);
    return rc;
}

/* TAX: the amounts table of its type; TAX+CUD's rate (C243 5278). */
static int
on_tax(walk_state *w, PyObject *elements)
{
    PyObject *type = component(elements, 1, 0);
    if (type == NULL) {
        return stop();
    }
    if (empty(type)) {
        w->amounts = w->mapper->plain_amounts;
        return 1;
    }
    w->amounts = PyDict_GetItemWithError(w->mapper->tax_amounts, type); /* NULL: NO_AMOUNTS */
    if (w->amounts == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (!equals(type, "CUD") || PyList_GET_SIZE(elements) <= 4) {
        return 1;
    }
    PyObject *rate = PyList_GET_ITEM(elements, 4);
    if (!PyList_CheckExact(rate)) {
        return 0;
    }
    if (PyList_GET_SIZE(rate) <= 3) {
        return 1;
    }
    PyObject *raw = text(PyList_GET_ITEM(rate, 3));
    if (raw == NULL) {
        return stop();
    }
    return empty(raw) ? 1 : put_number(w, key_duty_rate, raw);
}

/* ``parts[0] if len(parts) == 1 else " ".join(filter(None, parts))`` of an
 * exact list, as a new reference; NULL when a part is not an exact str. No
 * Python code can run between the scan and the copy (a str is no GC object). */
static PyObject *
joined(PyObject *parts)
{
    Py_ssize_t count = 0, length = 0;
    Py_UCS4 maxchar = 0;
    PyObject *last = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
        PyObject *part = text(PyList_GET_ITEM(parts, i));
        if (part == NULL) {
            return NULL;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(part);
        if (len == 0) {
            continue;
        }
        if (length > PY_SSIZE_T_MAX - len - 1) {
            PyErr_SetString(PyExc_OverflowError, "join() result is too long for a Python string");
            return NULL;
        }
        length += (count ? 1 : 0) + len;
        maxchar = Py_MAX(maxchar, PyUnicode_MAX_CHAR_VALUE(part));
        last = part;
        count++;
    }
    if (count <= 1) {
        return count ? Py_NewRef(last) : PyUnicode_New(0, 0);
    }
    PyObject *result = PyUnicode_New(length, maxchar);
    if (result == NULL) {
        return NULL;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
        PyObject *part = PyList_GET_ITEM(parts, i);
        Py_ssize_t len = PyUnicode_GET_LENGTH(part);
        if (len == 0) {
            continue;
        }
        if (at > 0) {
            PyUnicode_WRITE(PyUnicode_KIND(result), PyUnicode_DATA(result), at++, ' ');
        }
        if (PyUnicode_CopyCharacters(result, at, part, 0, len) < 0) {
            Py_DECREF(result);
            return NULL;
        }
        at += len;
    }
    return result;
}

/* FTX+AAA: the description (C108 4440, its non-empty components joined). */
static int
on_ftx(walk_state *w, PyObject *elements)
{
    PyObject *qualifier = component(elements, 0, 0);
    if (qualifier == NULL) {
        return stop();
    }
    if (!equals(qualifier, "AAA")) {
        return 1;
    }
    PyObject *parts = item(elements, 3);
    if (parts == NULL || !PyList_CheckExact(parts)) {
        return 0;
    }
    PyObject *description = joined(parts);
    if (description == NULL) {
        return stop();
    }
    int rc = put_text(w->line, key_description, description);
    Py_DECREF(description);
    return rc;
}

/* LOC+27: the country of origin (C517 3225). */
static int
on_loc(walk_state *w, PyObject *elements)
{
    PyObject *qualifier = component(elements, 0, 0);
    if (qualifier == NULL) {
        return stop();
    }
    return equals(qualifier, "27") ? put_text(w->line, key_country_of_origin, component(elements, 1, 0)) : 1;
}

/* MEA+AAE: the unit and quantity (C174 6411 and 6314). */
static int
on_mea(walk_state *w, PyObject *elements)
{
    PyObject *qualifier = component(elements, 0, 0);
    if (qualifier == NULL) {
        return stop();
    }
    if (!equals(qualifier, "AAE")) {
        return 1;
    }
    PyObject *values = item(elements, 2);
    int rc = put_text(w->line, key_unit, text(item(values, 0)));
    if (rc <= 0) {
        return rc;
    }
    PyObject *raw = text(item(values, 1));
    if (raw == NULL) {
        return stop();
    }
    return empty(raw) ? 1 : put_number(w, key_quantity, raw);
}

/* UNS: the end of the section; anything but UNS+S gives up (``segment.get(1)``
 * is guarded, but a missing value is not "S" either). */
static int
on_uns(PyObject *elements)
{
    PyObject *section = component(elements, 0, 0);
    if (section == NULL) {
        return stop();
    }
    return equals(section, "S");
}

static int
on_segment(walk_state *w, int kind, PyObject *elements)
{
    switch (kind) {
    case TAG_CST: return on_cst(w, elements);
    case TAG_MOA: return on_moa(w, elements);
    case TAG_TAX: return on_tax(w, elements);
    case TAG_FTX: return on_ftx(w, elements);
    case TAG_LOC: return on_loc(w, elements);
    case TAG_MEA: return on_mea(w, elements);
    default: return on_uns(elements); /* TAG_UNS: walk() skips TAG_OTHER */
    }
}

/* The section from ``start``: sets *end to the index after UNS+S. */
static int
walk(walk_state *w, PyObject *segments, Py_ssize_t start, Py_ssize_t *end)
{
    const Mapper *mapper = w->mapper;
    for (Py_ssize_t i = start; i < PyList_GET_SIZE(segments); i++) {
        PyObject *segment = PyList_GET_ITEM(segments, i);
        if (!Py_IS_TYPE(segment, mapper->segment_type)) {
            return 0;
        }
        PyObject *tag = text(SLOT(segment, mapper->off_tag));
        if (tag == NULL) {
            return stop();
        }
        int kind = tag_kind(tag);
        if (i == start && kind != TAG_CST) {
            return 0;
        }
        if (kind == TAG_OTHER) {
            continue; /* its elements are not read */
        }
        PyObject *elements = SLOT(segment, mapper->off_elements);
        if (elements == NULL || !PyList_CheckExact(elements)) {
            return 0;
        }
        Py_INCREF(elements);
        int rc = on_segment(w, kind, elements);
        Py_DECREF(elements);
        if (rc <= 0 || kind == TAG_UNS) {
            *end = i + 1;
            return rc;
        }
    }
    return 0; /* no UNS+S */
}

static PyObject *
exact_list(PyObject *obj, const char *what)
{
    if (!PyList_CheckExact(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list", what);
        return NULL;
    }
    return obj;
}

static PyObject *
mapper_lines(Mapper *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "lines() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (exact_list(args[0], "segments") == NULL || exact_list(args[2], "lines") == NULL ||
        exact_list(args[3], "numbers") == NULL) {
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0) {
        PyErr_SetString(PyExc_ValueError, "start must not be negative");
        return NULL;
    }
    walk_state w = {self, args[2], args[3], NULL, self->plain_amounts};
    Py_ssize_t end = 0;
    int rc = walk(&w, args[0], start, &end);
    Py_XDECREF(w.line);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSsize_t(end);
}

static PyMethodDef mapper_methods[] = {
    {"lines", (PyCFunction)(void (*)(void))mapper_lines, METH_FASTCALL,
     "lines(segments, start, lines, numbers) -> int | None: the detail section from ``start`` (see the module "
     "source)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MapperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mappings._cusdec_lines.Mapper",
    .tp_basicsize = sizeof(Mapper),
    .tp_dealloc = (destructor)mapper_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Mapper(segment_class, decimal_type, plain_amounts, tax_amounts, digit_limits): the CUSDEC detail section "
              "(see the module source).",
    .tp_methods = mapper_methods,
    .tp_new = mapper_new,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_cusdec_lines", "C accelerator of the CUSDEC fast path's detail section.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

static int
intern_keys(void)
{
    struct {
        PyObject **key;
        const char *name;
    } keys[] = {
        {&key_line_number, "line_number"}, {&key_hs_code, "hs_code"},
        {&key_tariff_treatment, "tariff_treatment"}, {&key_description, "description"},
        {&key_country_of_origin, "country_of_origin"}, {&key_unit, "unit"},
        {&key_quantity, "quantity"}, {&key_duty_rate, "duty_rate"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (*keys[i].key == NULL && (*keys[i].key = PyUnicode_InternFromString(keys[i].name)) == NULL) {
            return -1;
        }
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__cusdec_lines(void)
{
    if (intern_keys() < 0 || PyType_Ready(&MapperType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Mapper", (PyObject *)&MapperType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
