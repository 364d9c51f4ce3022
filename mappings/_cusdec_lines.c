/*
 * mappings._cusdec_lines -- optional C accelerator of the CUSDEC fast path:
 * the header section (``_header`` and its handlers) and the detail section
 * (``_lines`` and ``_new_line``) of mappings/cusdec_fast.py, the reference
 * (tests/test_cusdec_lines_accelerator.py compares the two).
 *
 * Mapper(segment_class, decimal_type, plain_amounts, tax_amounts, digit_limits, date_102=None)
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
 *     fit them as ``amount_fits`` tells, or the walk gives up. ``date_102``
 *     (mappings.edifact_values.parse_date_102) reads a header date that is not
 *     eight ASCII digits, as ``_date`` does (a ValueError gives up); without
 *     it, such a date gives up.
 *
 * Mapper.header(segments, data, numbers) -> int | None
 *     Maps the header of a message's list of segments, up to and including
 *     UNS+D, into the dict ``data`` as ``_header`` does (the same keys in the
 *     same order, the same values and types), appending the text of every
 *     number to ``numbers``; returns the index after UNS+D, or None where
 *     ``_header`` raises _Unusual or IndexError. An exception of
 *     ``decimal_type`` propagates, as in Python.
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
#include <datetime.h>
#include <stdint.h>

#include "../parsers/edifact/_segment_slots.h"
#include "../domain/_amount_fits.h"
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyTypeObject *segment_type;
    Py_ssize_t off_tag, off_elements;
    PyObject *decimal_type;
    PyObject *plain_amounts; /* MOA qualifier -> line field (a private copy) */
    PyObject *tax_amounts;   /* TAX type -> qualifier -> line field (a private copy) */
    PyObject *digit_limits;  /* line field -> int: integer digits << 8 | decimal places */
    PyObject *date_102;      /* reads a format-102 date that is not 8 ASCII digits; NULL: give up on it */
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
    Py_XDECREF(self->date_102);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
mapper_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"segment_class", "decimal_type", "plain_amounts", "tax_amounts", "digit_limits",
                               "date_102", NULL};
    PyObject *cls, *decimal_type, *plain, *tax, *limits, *date_102 = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO|O:Mapper", keywords, &cls, &decimal_type, &plain, &tax, &limits,
                                     &date_102)) {
        return NULL;
    }
    if (!PyCallable_Check(decimal_type) || (date_102 != Py_None && !PyCallable_Check(date_102))) {
        PyErr_SetString(PyExc_TypeError, "decimal_type (and date_102, when given) must be callable");
        return NULL;
    }
    Mapper *self = (Mapper *)type->tp_alloc(type, 0); /* zeroed */
    if (self == NULL) {
        return NULL;
    }
    self->decimal_type = Py_NewRef(decimal_type);
    self->date_102 = date_102 == Py_None ? NULL : Py_NewRef(date_102);
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

/* Whether a segment's first value (its qualifier, elements[0][0]) is the
 * ASCII text ``code``: 1 or 0; -1 when it is missing or not an exact str
 * (the caller returns stop(): Python's unguarded read would raise). */
static int
first_is(PyObject *elements, const char *code)
{
    PyObject *first = component(elements, 0, 0);
    return first == NULL ? -1 : equals(first, code);
}

enum { TAG_OTHER, TAG_CST, TAG_MOA, TAG_TAX, TAG_FTX, TAG_LOC, TAG_MEA, TAG_UNS };

#define TAG3(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))

/* A tag's three latin-1 characters packed by TAG3; 0 for any other tag. */
static uint32_t
tag_code(PyObject *tag)
{
    if (PyUnicode_GET_LENGTH(tag) != 3 || PyUnicode_KIND(tag) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(tag);
    return TAG3(c[0], c[1], c[2]);
}

/* The tags ``_lines`` handles. */
static int
tag_kind(PyObject *tag)
{
    switch (tag_code(tag)) {
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
            rc = amount_str_fits(raw, packed >> 8, packed & 0xff, NULL);
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
    int is = first_is(elements, "AAA");
    if (is <= 0) {
        return is < 0 ? stop() : 1;
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
    int is = first_is(elements, "27");
    if (is <= 0) {
        return is < 0 ? stop() : 1;
    }
    return put_text(w->line, key_country_of_origin, component(elements, 1, 0));
}

/* MEA+AAE: the unit and quantity (C174 6411 and 6314). */
static int
on_mea(walk_state *w, PyObject *elements)
{
    int is = first_is(elements, "AAE");
    if (is <= 0) {
        return is < 0 ? stop() : 1;
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
    int is = first_is(elements, "S");
    return is < 0 ? stop() : is;
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

/* The header ----------------------------------------------------------------
 * ``_header`` and its handlers: the same dict, key by key in the same order.
 * ``after`` is what qualifies a following DTM or CUX (see ``_header``). */

enum { AFTER_NONE, AFTER_DOC, AFTER_MOA39 };
enum { H_OTHER, H_BGM, H_CST, H_LOC, H_DTM, H_FTX, H_RFF, H_DOC, H_NAD, H_MOA, H_CUX, H_UNS, H_UNH_UNT };

/* The tags ``_header`` handles (UNH and UNT: the ones it passes over). */
static int
header_kind(PyObject *tag)
{
    switch (tag_code(tag)) {
    case TAG3('B', 'G', 'M'): return H_BGM;
    case TAG3('C', 'S', 'T'): return H_CST;
    case TAG3('L', 'O', 'C'): return H_LOC;
    case TAG3('D', 'T', 'M'): return H_DTM;
    case TAG3('F', 'T', 'X'): return H_FTX;
    case TAG3('R', 'F', 'F'): return H_RFF;
    case TAG3('D', 'O', 'C'): return H_DOC;
    case TAG3('N', 'A', 'D'): return H_NAD;
    case TAG3('M', 'O', 'A'): return H_MOA;
    case TAG3('C', 'U', 'X'): return H_CUX;
    case TAG3('U', 'N', 'S'): return H_UNS;
    case TAG3('U', 'N', 'H'): return H_UNH_UNT;
    case TAG3('U', 'N', 'T'): return H_UNH_UNT;
    default: return H_OTHER;
    }
}

/* Keys of the declaration dict and its parts (interned in intern_keys). */
static PyObject *k_transaction_number, *k_version, *k_function, *k_type_code, *k_office_of_release, *k_release_date,
    *k_invoice, *k_issue_date, *k_number, *k_total_amount, *k_currency, *k_exchange_rate, *k_amendment,
    *k_reason_code, *k_explanation, *k_kind, *k_filer_reference, *k_cargo_control_number, *k_importer, *k_declarant,
    *k_vendor, *k_account, *k_name, *k_street, *k_city, *k_postcode, *k_country, *v_adjustment;

typedef struct {
    const Mapper *mapper;
    PyObject *data, *numbers; /* the caller's dict and list */
} header_state;

/* ``data.setdefault(key, {})``, borrowed (``data`` holds it). */
static PyObject *
part(PyObject *data, PyObject *key)
{
    PyObject *found = PyDict_GetItemWithError(data, key);
    if (found != NULL || PyErr_Occurred()) {
        return found;
    }
    PyObject *made = PyDict_New();
    if (made == NULL) {
        return NULL;
    }
    int rc = PyDict_SetItem(data, key, made);
    Py_DECREF(made);
    return rc < 0 ? NULL : made;
}

/* ``data.setdefault(part_key, {})[key] = value`` for a str value that is not
 * empty (nothing for an empty one, so no part is made for it): 1, or -1. */
static int
put_in_part(PyObject *data, PyObject *part_key, PyObject *key, PyObject *value)
{
    if (empty(value)) {
        return 1;
    }
    PyObject *target = part(data, part_key);
    return target != NULL && PyDict_SetItem(target, key, value) == 0 ? 1 : -1;
}

/* ``target[key] = value`` (a new reference, stolen; NULL: an error). */
static int
put_new(PyObject *target, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(target, key, value);
    Py_DECREF(value);
    return rc < 0 ? -1 : 1;
}

/* ``_decimal``: ``target[key] = Decimal(raw)``, ``raw`` appended to ``numbers``. */
static int
put_header_number(header_state *h, PyObject *target, PyObject *key, PyObject *raw)
{
    if (target == NULL) {
        return -1;
    }
    Py_INCREF(target); /* Decimal() may run Python code */
    Py_INCREF(raw);
    int rc = PyList_Append(h->numbers, raw) < 0 ? -1 : put_new(target, key, PyObject_CallOneArg(h->mapper->decimal_type, raw));
    Py_DECREF(raw);
    Py_DECREF(target);
    return rc;
}

/* ``_date(values)``: C507's date (``values[1]``, not empty) in format 102.
 * Eight ASCII digits are read here; any other text goes to ``date_102``
 * (``parse_date_102``, which reads other digits as int() does), and a
 * ValueError gives up, as ``_date`` does. */
static PyObject *
header_date(header_state *h, PyObject *values)
{
    if (PyList_GET_SIZE(values) > 2) {
        PyObject *format = text(PyList_GET_ITEM(values, 2));
        if (format == NULL) {
            return NULL;
        }
        if (!empty(format) && !equals(format, "102")) {
            return NULL;
        }
    }
    PyObject *raw = text(PyList_GET_ITEM(values, 1));
    if (raw == NULL) {
        return NULL;
    }
    PyObject *date;
    if (PyUnicode_GET_LENGTH(raw) == 8 && ascii_digits(raw)) {
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(raw);
        int year = (c[0] - '0') * 1000 + (c[1] - '0') * 100 + (c[2] - '0') * 10 + (c[3] - '0');
        date = PyDate_FromDate(year, (c[4] - '0') * 10 + (c[5] - '0'), (c[6] - '0') * 10 + (c[7] - '0'));
    }
    else if (h->mapper->date_102 != NULL) {
        date = PyObject_CallOneArg(h->mapper->date_102, raw);
    }
    else {
        return NULL; /* give up */
    }
    if (date == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear(); /* not a date: give up */
    }
    return date;
}

/* BGM: 1001 must be 929; 1004 (19 ASCII digits) gives the transaction
 * number and version; 1225 the function. */
static int
on_bgm(header_state *h, PyObject *elements)
{
    int is = first_is(elements, "929");
    if (is <= 0) {
        return is < 0 ? stop() : 0;
    }
    PyObject *reference = component(elements, 1, 0);
    if (reference == NULL) {
        return stop();
    }
    if (!empty(reference)) {
        if (PyUnicode_GET_LENGTH(reference) != 19 || !ascii_digits(reference)) {
            return 0;
        }
        PyObject *number = PyUnicode_Substring(reference, 0, 14);
        if (put_new(h->data, k_transaction_number, number) < 0) {
            return -1;
        }
        PyObject *digits = PyUnicode_Substring(reference, 14, 19);
        PyObject *version = digits == NULL ? NULL : digits_value(digits);
        Py_XDECREF(digits);
        if (put_new(h->data, k_version, version) < 0) {
            return -1;
        }
    }
    return put_text(h->data, k_function, component(elements, 2, 0));
}

/* DTM: 271 the release date; 3 after DOC+380 the invoice's issue date. */
static int
on_dtm(header_state *h, PyObject *elements, int after)
{
    PyObject *values = item(elements, 0);
    PyObject *code = text(item(values, 0));
    if (code == NULL) {
        return stop();
    }
    int release = equals(code, "271");
    if (!release && !(equals(code, "3") && after == AFTER_DOC)) {
        return 1;
    }
    PyObject *raw = text(item(values, 1));
    if (raw == NULL) {
        return stop();
    }
    if (empty(raw)) {
        return 1;
    }
    Py_INCREF(values); /* read again in header_date, which may run Python code */
    PyObject *date = header_date(h, values);
    Py_DECREF(values);
    if (date == NULL) {
        return stop();
    }
    PyObject *target = release ? h->data : part(h->data, k_invoice);
    if (target == NULL) {
        Py_DECREF(date);
        return -1;
    }
    return put_new(target, release ? k_release_date : k_issue_date, date);
}

/* FTX+CHG: the amendment's reason code, explanation (the other 4440
 * components, joined) and kind. */
static int
on_header_ftx(header_state *h, PyObject *elements)
{
    int is = first_is(elements, "CHG");
    if (is <= 0) {
        return is < 0 ? stop() : 1;
    }
    PyObject *parts = item(elements, 3);
    PyObject *reason = text(item(parts, 0));
    if (reason == NULL) {
        return stop();
    }
    if (put_in_part(h->data, k_amendment, k_reason_code, reason) < 0) {
        return -1;
    }
    PyObject *rest = PyList_GetSlice(parts, 1, PyList_GET_SIZE(parts));
    PyObject *explanation = rest == NULL ? NULL : joined(rest);
    Py_XDECREF(rest);
    if (explanation == NULL) {
        return stop();
    }
    int rc = put_in_part(h->data, k_amendment, k_explanation, explanation);
    Py_DECREF(explanation);
    if (rc < 0) {
        return -1;
    }
    PyObject *change = component(elements, 2, 0);
    if (change == NULL) {
        return stop();
    }
    return equals(change, "ADJ") ? put_in_part(h->data, k_amendment, k_kind, v_adjustment) : 1;
}

/* RFF+ABE: the filer reference; RFF+CN: the cargo control number. */
static int
on_rff(header_state *h, PyObject *elements)
{
    PyObject *values = item(elements, 0);
    PyObject *qualifier = text(item(values, 0));
    if (qualifier == NULL) {
        return stop();
    }
    PyObject *key = equals(qualifier, "ABE") ? k_filer_reference : equals(qualifier, "CN") ? k_cargo_control_number : NULL;
    return key == NULL ? 1 : put_text(h->data, key, text(item(values, 1)));
}

/* DOC+380: the invoice number; anything else ends the DOC context. */
static int
on_doc(header_state *h, PyObject *elements, int *after)
{
    int is = first_is(elements, "380");
    if (is <= 0) {
        return is < 0 ? stop() : 1;
    }
    PyObject *number = component(elements, 1, 0);
    if (number == NULL) {
        return stop();
    }
    if (put_in_part(h->data, k_invoice, k_number, number) < 0) {
        return -1;
    }
    *after = AFTER_DOC;
    return 1;
}

/* NAD+IM/DT: a party's account (C082 3039) and name (C080 3036);
 * NAD+SE: the vendor's name, street, city, postcode, country. */
static int
on_nad(header_state *h, PyObject *elements)
{
    static const Py_ssize_t party_elements[] = {1, 3};
    static const Py_ssize_t vendor_elements[] = {3, 4, 5, 7, 8};
    PyObject **party_keys[] = {&k_account, &k_name};
    PyObject **vendor_keys[] = {&k_name, &k_street, &k_city, &k_postcode, &k_country};
    PyObject *role = component(elements, 0, 0);
    if (role == NULL) {
        return stop();
    }
    PyObject *key;
    const Py_ssize_t *positions;
    PyObject ***keys;
    int count;
    if (equals(role, "IM") || equals(role, "DT")) {
        key = equals(role, "IM") ? k_importer : k_declarant;
        positions = party_elements;
        keys = party_keys;
        count = 2;
    }
    else if (equals(role, "SE")) {
        key = k_vendor;
        positions = vendor_elements;
        keys = vendor_keys;
        count = 5;
    }
    else {
        return 1;
    }
    PyObject *party = part(h->data, key);
    if (party == NULL) {
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (positions[i] < PyList_GET_SIZE(elements)) {
            int rc = put_text(party, *keys[i], component(elements, positions[i], 0));
            if (rc <= 0) {
                return rc;
            }
        }
    }
    return 1;
}

/* MOA+39: the invoice total and currency (the context of a following CUX). */
static int
on_header_moa(header_state *h, PyObject *elements, int *after)
{
    PyObject *values = item(elements, 0);
    PyObject *qualifier = text(item(values, 0));
    if (qualifier == NULL) {
        return stop();
    }
    if (!equals(qualifier, "39")) {
        return 1;
    }
    PyObject *raw = text(item(values, 1));
    if (raw == NULL) {
        return stop();
    }
    Py_INCREF(values); /* read again after Decimal() */
    int rc = 1;
    if (!empty(raw)) {
        rc = put_header_number(h, part(h->data, k_invoice), k_total_amount, raw);
    }
    if (rc > 0) {
        rc = put_text(h->data, k_currency, text(item(values, 2)));
    }
    Py_DECREF(values);
    if (rc > 0) {
        *after = AFTER_MOA39;
    }
    return rc;
}

/* CUX after MOA+39: its currency must be MOA's; 5402 the exchange rate. */
static int
on_cux(header_state *h, PyObject *elements, int after)
{
    if (after != AFTER_MOA39) {
        return 1;
    }
    PyObject *currency = component(elements, 0, 1);
    if (currency == NULL) {
        return stop();
    }
    PyObject *declared = PyDict_GetItemWithError(h->data, k_currency);
    if (declared == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (declared != NULL && PyUnicode_Check(declared) && PyUnicode_GET_LENGTH(declared) > 0 && !empty(currency)) {
        int same = PyUnicode_Compare(currency, declared);
        if (same == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (same != 0) {
            return 0;
        }
    }
    PyObject *rate = component(elements, 2, 0);
    if (rate == NULL) {
        return stop();
    }
    return empty(rate) ? 1 : put_header_number(h, h->data, k_exchange_rate, rate);
}

/* One header segment; ``*after`` is updated as ``_header`` does. */
static int
on_header_segment(header_state *h, int kind, PyObject *elements, int *after)
{
    int was = *after;
    if (kind != H_DTM) {
        *after = AFTER_NONE;
    }
    switch (kind) {
    case H_BGM: return on_bgm(h, elements);
    case H_CST: return put_text(h->data, k_type_code, component(elements, 1, 0));
    case H_LOC: {
        int is = first_is(elements, "22");
        if (is <= 0) {
            return is < 0 ? stop() : 1;
        }
        return put_text(h->data, k_office_of_release, component(elements, 1, 0));
    }
    case H_DTM: return on_dtm(h, elements, was);
    case H_FTX: return on_header_ftx(h, elements);
    case H_RFF: return on_rff(h, elements);
    case H_DOC: return on_doc(h, elements, after);
    case H_NAD: return on_nad(h, elements);
    case H_MOA: return on_header_moa(h, elements, after);
    case H_CUX: return on_cux(h, elements, was);
    default: return 1;
    }
}

/* ``_header``: the segments up to and including UNS+D; sets *end to the index after it. */
static int
walk_header(header_state *h, PyObject *segments, Py_ssize_t *end)
{
    const Mapper *mapper = h->mapper;
    int after = AFTER_NONE;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(segments); i++) {
        PyObject *segment = PyList_GET_ITEM(segments, i);
        if (!Py_IS_TYPE(segment, mapper->segment_type)) {
            return 0;
        }
        PyObject *tag = text(SLOT(segment, mapper->off_tag));
        if (tag == NULL) {
            return stop();
        }
        int kind = header_kind(tag);
        if (kind == H_UNH_UNT) {
            continue;
        }
        if (kind == H_OTHER) {
            after = AFTER_NONE;
            continue;
        }
        PyObject *elements = SLOT(segment, mapper->off_elements);
        if (elements == NULL || !PyList_CheckExact(elements)) {
            return 0;
        }
        if (kind == H_UNS) { /* anything but UNS+D gives up (a missing value too) */
            if (first_is(elements, "D") <= 0) {
                return stop();
            }
            *end = i + 1;
            return 1;
        }
        Py_INCREF(elements);
        int rc = on_header_segment(h, kind, elements, &after);
        Py_DECREF(elements);
        if (rc <= 0) {
            return rc;
        }
    }
    return 0; /* no UNS+D */
}

static PyObject *
mapper_header(Mapper *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "header() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (exact_list(args[0], "segments") == NULL || exact_list(args[2], "numbers") == NULL) {
        return NULL;
    }
    if (!PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "data must be a dict");
        return NULL;
    }
    header_state h = {self, args[1], args[2]};
    Py_ssize_t end = 0;
    int rc = walk_header(&h, args[0], &end);
    if (rc < 0) {
        return NULL;
    }
    if (rc == 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSsize_t(end);
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
    {"header", (PyCFunction)(void (*)(void))mapper_header, METH_FASTCALL,
     "header(segments, data, numbers) -> int | None: the header section, up to UNS+D (see the module source)."},
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
        {&k_transaction_number, "transaction_number"}, {&k_version, "version"}, {&k_function, "function"},
        {&k_type_code, "type_code"}, {&k_office_of_release, "office_of_release"}, {&k_release_date, "release_date"},
        {&k_invoice, "invoice"}, {&k_issue_date, "issue_date"}, {&k_number, "number"},
        {&k_total_amount, "total_amount"}, {&k_currency, "currency"}, {&k_exchange_rate, "exchange_rate"},
        {&k_amendment, "amendment"}, {&k_reason_code, "reason_code"}, {&k_explanation, "explanation"},
        {&k_kind, "kind"}, {&k_filer_reference, "filer_reference"},
        {&k_cargo_control_number, "cargo_control_number"}, {&k_importer, "importer"}, {&k_declarant, "declarant"},
        {&k_vendor, "vendor"}, {&k_account, "account"}, {&k_name, "name"}, {&k_street, "street"},
        {&k_city, "city"}, {&k_postcode, "postcode"}, {&k_country, "country"}, {&v_adjustment, "adjustment"},
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
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL || intern_keys() < 0 || PyType_Ready(&MapperType) < 0) {
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
