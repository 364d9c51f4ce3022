/*
 * validators.directory._content -- optional C accelerator of the directory
 * validator's content pass (validators/directory/validator.py).
 *
 * Checker(segment_class, spec, decimal_mark)
 *     ``segment_class`` is parsers.edifact.model.Segment: the offsets of its
 *     ``tag`` and ``elements`` __slots__ are recorded, so that segments are
 *     read without attribute lookups (every check on the slots is made here).
 *     ``spec`` is ``content.content_spec(...)``: a dict from segment tag to a
 *     tuple of slots, each
 *         (mandatory: bool, composite: bool, values: tuple)
 *     with ``values`` the composite's components (a simple element: exactly
 *     one, whose own ``mandatory`` is not read), each
 *         (mandatory: bool, kind: "a" | "n" | "an", min_length: int,
 *          max_length: int, codes: frozenset[str] | None, agency: int)
 *     where ``agency`` is the index of the component 3055 that qualifies the
 *     value's code list, or -1. ``decimal_mark`` is a one-character str.
 *
 * Checker.suspects(segments) -> list[int]
 *     The 1-based positions of the segments whose content might be wrong: the
 *     Python check decides for those. Every other segment is certainly clean:
 *     ``SegmentCheck.findings`` (content.py, the reference) would report
 *     nothing on it. A segment whose tag the spec does not define is skipped,
 *     as the Python loop skips it.
 *
 * Checker.tags(segments) -> tuple[str, ...] | None
 *     ``tuple(segment.tag for segment in segments)`` (the structure walk's
 *     key); None when an item is not exactly a Segment with an exact str tag
 *     (the caller then reads the tags itself).
 *
 * Conservative (always suspect, whatever the definition says): an object that
 * is not exactly a Segment, a tag that is not exactly a str, elements or an
 * element that is not exactly a list, a component that is not exactly a str,
 * and a value holding U+D800 or U+D801 (the separators of content.joined: the
 * Python check of joined elements would read them as separators).
 *
 * Speed: tags and codes of 1 to 7 latin-1 characters (every tag, nearly
 * every code) are looked up as 64-bit keys in small open-addressing tables
 * (see ``pack``), not in the dict and frozensets: no hashing or comparing of
 * str objects. A value that does not pack is looked up in its frozenset.
 *
 * Safety: a scan calls no Python code (the only Python look-up left is a
 * frozenset one, of an exact str in a frozenset of exact str, validated at
 * construction) and allocates no Python object, so the segments cannot change
 * under it; the positions found are collected in a C buffer and the result
 * list is built afterwards. Every allocation is checked; a Checker holds only
 * frozensets of str and the Segment class (no reference cycle through it).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#include "../../parsers/edifact/_segment_slots.h"

enum { KIND_AN, KIND_A, KIND_N };

/* An open-addressing table of nonzero 64-bit keys (see ``pack``). */
typedef struct {
    uint64_t *keys;      /* 0: a free slot */
    Py_ssize_t *indices; /* per slot, what its key names (tags: the segment), or NULL */
    size_t mask;         /* slots - 1, a power of two minus one */
} key_table;

typedef struct {
    int mandatory;
    int kind;
    Py_ssize_t min_length, max_length;
    PyObject *codes;   /* a frozenset of str (owned), or NULL: no code list */
    key_table packed;  /* the codes that pack */
    int unpacked;      /* whether some code does not pack */
    Py_ssize_t agency; /* index of the qualifying 3055 component, or -1 */
} value_def;

typedef struct {
    int mandatory;
    int composite;
    Py_ssize_t count; /* values: components, or 1 for a simple element */
    const value_def *values;
} slot_def;

typedef struct {
    Py_ssize_t count;
    const slot_def *slots;
} segment_def;

typedef struct {
    PyObject_HEAD
    key_table tags; /* packed tag -> index in ``segments`` */
    segment_def *segments;
    slot_def *slots;
    value_def *values;
    Py_ssize_t value_count;
    PyTypeObject *segment_type;
    Py_ssize_t off_tag, off_elements;
    Py_UCS4 mark;
} Checker;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Short str as keys ----------------------------------------------------------- */

/* A str of 1 to 7 latin-1 characters as a nonzero 64-bit key (its length in
 * the top byte, its characters below), or 0 for any other str. Two such str
 * are equal exactly when their keys are: CPython stores every str of latin-1
 * characters one byte a character (the 1-byte kind), whatever built it. */
static uint64_t
pack(PyObject *text)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (len < 1 || len > 7 || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(text);
    uint64_t key = (uint64_t)len << 56;
    for (Py_ssize_t i = 0; i < len; i++) {
        key |= (uint64_t)data[i] << (8 * i);
    }
    return key;
}

static size_t
table_home(const key_table *table, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15u) >> 32) & table->mask;
}

/* Room for ``count`` keys at most half full; -1 (MemoryError) on failure. */
static int
table_init(key_table *table, Py_ssize_t count, int with_indices)
{
    size_t size = 8;
    while (size < (size_t)count * 2) {
        size *= 2;
    }
    table->keys = PyMem_Calloc(size, sizeof(uint64_t));
    table->indices = with_indices ? PyMem_Calloc(size, sizeof(Py_ssize_t)) : NULL;
    table->mask = size - 1;
    if (table->keys == NULL || (with_indices && table->indices == NULL)) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
table_free(key_table *table)
{
    PyMem_Free(table->keys);
    PyMem_Free(table->indices);
}

/* The slot of ``key``, or -1. */
static Py_ssize_t
table_find(const key_table *table, uint64_t key)
{
    for (size_t i = table_home(table, key);; i = (i + 1) & table->mask) {
        if (table->keys[i] == key) {
            return (Py_ssize_t)i;
        }
        if (table->keys[i] == 0) {
            return -1;
        }
    }
}

/* Adds a key not in the table yet (the table has room: see table_init). */
static void
table_add(key_table *table, uint64_t key, Py_ssize_t index)
{
    size_t i = table_home(table, key);
    while (table->keys[i] != 0) {
        i = (i + 1) & table->mask;
    }
    table->keys[i] = key;
    if (table->indices != NULL) {
        table->indices[i] = index;
    }
}

/* Construction -------------------------------------------------------------- */

/* A tuple of exactly ``size`` items (any size when -1), or NULL with TypeError. */
static PyObject *
exact_tuple(PyObject *obj, Py_ssize_t size, const char *what)
{
    if (!PyTuple_Check(obj) || (size >= 0 && PyTuple_GET_SIZE(obj) != size)) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple%s", what, size >= 0 ? " of the documented size" : "");
        return NULL;
    }
    return obj;
}

static int
parse_bool(PyObject *obj, int *out)
{
    if (!PyBool_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "mandatory and composite must be bool");
        return -1;
    }
    *out = obj == Py_True;
    return 0;
}

/* An exact int of at least ``low`` (-1 or 0 here). */
static int
parse_int(PyObject *obj, Py_ssize_t low, Py_ssize_t *out)
{
    if (!PyLong_CheckExact(obj)) {
        PyErr_SetString(PyExc_TypeError, "lengths and agency must be int");
        return -1;
    }
    Py_ssize_t value = PyLong_AsSsize_t(obj);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < low) {
        PyErr_SetString(PyExc_ValueError, "a length or agency is out of range");
        return -1;
    }
    *out = value;
    return 0;
}

static int
parse_kind(PyObject *obj, int *out)
{
    if (PyUnicode_CheckExact(obj)) {
        if (PyUnicode_CompareWithASCIIString(obj, "an") == 0) {
            *out = KIND_AN;
            return 0;
        }
        if (PyUnicode_CompareWithASCIIString(obj, "a") == 0) {
            *out = KIND_A;
            return 0;
        }
        if (PyUnicode_CompareWithASCIIString(obj, "n") == 0) {
            *out = KIND_N;
            return 0;
        }
    }
    PyErr_SetString(PyExc_ValueError, "kind must be \"a\", \"n\" or \"an\"");
    return -1;
}

/* A value's code list (a frozenset of exact str, or None): the frozenset is
 * kept for the codes that do not pack, the others go to a key table. */
static int
parse_codes(PyObject *obj, value_def *out)
{
    if (obj == Py_None) {
        return 0;
    }
    if (!PyFrozenSet_CheckExact(obj)) {
        PyErr_SetString(PyExc_TypeError, "codes must be a frozenset or None");
        return -1;
    }
    out->codes = Py_NewRef(obj);
    if (table_init(&out->packed, PySet_GET_SIZE(obj), 0) < 0) {
        return -1;
    }
    PyObject *iterator = PyObject_GetIter(obj);
    if (iterator == NULL) {
        return -1;
    }
    PyObject *code;
    int plain = 1;
    while (plain && (code = PyIter_Next(iterator)) != NULL) {
        plain = PyUnicode_CheckExact(code) && PyUnicode_READY(code) == 0;
        uint64_t key = plain ? pack(code) : 0;
        if (key != 0) {
            table_add(&out->packed, key, 0);
        }
        else if (plain) {
            out->unpacked = 1;
        }
        Py_DECREF(code);
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        return -1;
    }
    if (!plain) {
        PyErr_SetString(PyExc_TypeError, "codes must hold only str");
        return -1;
    }
    return 0;
}

static int
parse_value(PyObject *obj, Py_ssize_t components, value_def *out)
{
    if (exact_tuple(obj, 6, "a value") == NULL || parse_bool(PyTuple_GET_ITEM(obj, 0), &out->mandatory) < 0 ||
        parse_kind(PyTuple_GET_ITEM(obj, 1), &out->kind) < 0 ||
        parse_int(PyTuple_GET_ITEM(obj, 2), 0, &out->min_length) < 0 ||
        parse_int(PyTuple_GET_ITEM(obj, 3), 0, &out->max_length) < 0 ||
        parse_int(PyTuple_GET_ITEM(obj, 5), -1, &out->agency) < 0 ||
        parse_codes(PyTuple_GET_ITEM(obj, 4), out) < 0) {
        return -1;
    }
    if (out->agency >= components) {
        PyErr_SetString(PyExc_ValueError, "agency must be -1 or the index of a component");
        return -1;
    }
    return 0;
}

static int
parse_slot(PyObject *obj, slot_def *out, value_def *values)
{
    PyObject *items = PyTuple_GET_ITEM(obj, 2);
    if (parse_bool(PyTuple_GET_ITEM(obj, 0), &out->mandatory) < 0 ||
        parse_bool(PyTuple_GET_ITEM(obj, 1), &out->composite) < 0) {
        return -1;
    }
    out->count = PyTuple_GET_SIZE(items);
    out->values = values;
    if (!out->composite && out->count != 1) {
        PyErr_SetString(PyExc_ValueError, "a simple element has exactly one value");
        return -1;
    }
    for (Py_ssize_t i = 0; i < out->count; i++) {
        if (parse_value(PyTuple_GET_ITEM(items, i), out->count, &values[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Counts the slots and values of the spec's (tag, segment) items, checking their shape. */
static int
count_spec(PyObject *items, Py_ssize_t *slots, Py_ssize_t *values)
{
    *slots = *values = 0;
    for (Py_ssize_t s = 0; s < PyList_GET_SIZE(items); s++) {
        PyObject *tag = PyTuple_GET_ITEM(PyList_GET_ITEM(items, s), 0);
        PyObject *segment = PyTuple_GET_ITEM(PyList_GET_ITEM(items, s), 1);
        if (!PyUnicode_CheckExact(tag) || PyUnicode_READY(tag) < 0 || pack(tag) == 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "spec keys must be tags: str of 1 to 7 latin-1 characters");
            }
            return -1;
        }
        if (exact_tuple(segment, -1, "a segment") == NULL) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(segment); i++) {
            PyObject *slot = PyTuple_GET_ITEM(segment, i);
            if (exact_tuple(slot, 3, "a slot") == NULL ||
                exact_tuple(PyTuple_GET_ITEM(slot, 2), -1, "values") == NULL) {
                return -1;
            }
            *slots += 1;
            *values += PyTuple_GET_SIZE(PyTuple_GET_ITEM(slot, 2));
        }
    }
    return 0;
}

/* Fills the arrays from the spec's (tag, segment) items: a list of tuples of
 * tuples nobody else holds, so nothing can change while it is read. */
static int
parse_items(Checker *self, PyObject *items)
{
    Py_ssize_t slot_count, value_count;
    if (count_spec(items, &slot_count, &value_count) < 0) {
        return -1;
    }
    Py_ssize_t segment_count = PyList_GET_SIZE(items);
    /* zeroed: codes stay NULL until parsed, so a partly filled spec is freed safely */
    self->segments = PyMem_Calloc(segment_count ? segment_count : 1, sizeof(segment_def));
    self->slots = PyMem_Calloc(slot_count ? slot_count : 1, sizeof(slot_def));
    self->values = PyMem_Calloc(value_count ? value_count : 1, sizeof(value_def));
    if (self->segments == NULL || self->slots == NULL || self->values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (table_init(&self->tags, segment_count, 1) < 0) {
        return -1;
    }
    self->value_count = value_count;
    Py_ssize_t next_slot = 0, next_value = 0;
    for (Py_ssize_t s = 0; s < segment_count; s++) {
        PyObject *tag = PyTuple_GET_ITEM(PyList_GET_ITEM(items, s), 0);
        PyObject *segment = PyTuple_GET_ITEM(PyList_GET_ITEM(items, s), 1);
        self->segments[s].count = PyTuple_GET_SIZE(segment);
        self->segments[s].slots = &self->slots[next_slot];
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(segment); i++) {
            if (parse_slot(PyTuple_GET_ITEM(segment, i), &self->slots[next_slot], &self->values[next_value]) < 0) {
                return -1;
            }
            next_value += self->slots[next_slot++].count;
        }
        table_add(&self->tags, pack(tag), s); /* distinct: the keys of a dict */
    }
    return 0;
}

static int
parse_spec(Checker *self, PyObject *spec)
{
    PyObject *items = PyDict_Items(spec);
    if (items == NULL) {
        return -1;
    }
    int rc = parse_items(self, items);
    Py_DECREF(items);
    return rc;
}

static void
checker_dealloc(Checker *self)
{
    if (self->values != NULL) {
        for (Py_ssize_t i = 0; i < self->value_count; i++) {
            Py_XDECREF(self->values[i].codes);
            table_free(&self->values[i].packed);
        }
    }
    PyMem_Free(self->values);
    PyMem_Free(self->slots);
    PyMem_Free(self->segments);
    table_free(&self->tags);
    Py_XDECREF(self->segment_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
checker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"segment_class", "spec", "decimal_mark", NULL};
    PyObject *cls, *spec, *mark;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!U:Checker", keywords, &cls, &PyDict_Type, &spec, &mark)) {
        return NULL;
    }
    if (PyUnicode_READY(mark) < 0) {
        return NULL;
    }
    if (PyUnicode_GET_LENGTH(mark) != 1) {
        PyErr_SetString(PyExc_ValueError, "decimal_mark must be one character");
        return NULL;
    }
    Checker *self = (Checker *)type->tp_alloc(type, 0); /* zeroed */
    if (self == NULL) {
        return NULL;
    }
    self->mark = PyUnicode_READ_CHAR(mark, 0);
    if (segment_tag_and_elements(cls, &self->segment_type, &self->off_tag, &self->off_elements) < 0 ||
        parse_spec(self, spec) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* The check ------------------------------------------------------------------
 * Each function returns 1 when the item is certainly clean, 0 when it is
 * suspect, -1 on an error (with an exception set). */

/* Digits of a valid numeric value (content._SlowCheck.numeric): an optional
 * leading minus, then digits with the first occurrence of the mark dropped;
 * at least one digit, and no mark first. -1 when it is not one. */
static inline Py_ssize_t
numeric_length(int kind, const void *data, Py_ssize_t len, Py_UCS4 mark)
{
    Py_ssize_t start = len > 0 && PyUnicode_READ(kind, data, 0) == '-' ? 1 : 0;
    Py_ssize_t marked = -1;
    for (Py_ssize_t i = start; i < len; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch == mark && marked < 0) {
            marked = i;
        }
        else if (ch < '0' || ch > '9') {
            return -1;
        }
    }
    Py_ssize_t digits = len - start - (marked >= 0 ? 1 : 0);
    return digits == 0 || marked == start ? -1 : digits;
}

static inline int
has_digit(int kind, const void *data, Py_ssize_t len)
{
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch >= '0' && ch <= '9') {
            return 1;
        }
    }
    return 0;
}

static int
has_joined_separator(int kind, const void *data, Py_ssize_t len)
{
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch == 0xd800 || ch == 0xd801) {
            return 1;
        }
    }
    return 0;
}

/* Whether a value's code list applies: its agency is absent, empty or 6 (UN/ECE). */
static int
code_list_applies(PyObject *agency)
{
    return agency == NULL || PyUnicode_GET_LENGTH(agency) == 0 ||
           (PyUnicode_GET_LENGTH(agency) == 1 && PyUnicode_READ_CHAR(agency, 0) == '6');
}

/* The length of a non-empty value that passes its kind's character rules
 * (content._SlowCheck.value: a digit count for n), or -1. Inlined with a
 * constant ``kind`` for the usual 1-byte str. */
static inline Py_ssize_t
checked_length(const Checker *self, const value_def *def, int kind, const void *data, Py_ssize_t len)
{
    if (kind != PyUnicode_1BYTE_KIND && has_joined_separator(kind, data, len)) {
        return -1;
    }
    if (def->kind == KIND_N) {
        return numeric_length(kind, data, len, self->mark);
    }
    return def->kind == KIND_A && has_digit(kind, data, len) ? -1 : len;
}

/* A non-empty value (content._SlowCheck.value); ``agency`` is its 3055 or NULL. */
static int
value_clean(const Checker *self, const value_def *def, PyObject *text, PyObject *agency)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = kind == PyUnicode_1BYTE_KIND ? checked_length(self, def, PyUnicode_1BYTE_KIND, data, len)
                                                     : checked_length(self, def, kind, data, len);
    if (length < 0 || length > def->max_length || length < def->min_length) {
        return 0;
    }
    if (def->codes == NULL || !code_list_applies(agency)) {
        return 1;
    }
    uint64_t key = pack(text);
    if (key != 0) {
        return table_find(&def->packed, key) >= 0;
    }
    return def->unpacked ? PySet_Contains(def->codes, text) : 0;
}

/* Checks that every component of an element is an exact str; sets *present
 * when one is not empty (Python's ``any(value)``). */
static int
components_plain(PyObject *value, int *present)
{
    *present = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        PyObject *item = PyList_GET_ITEM(value, i);
        if (!PyUnicode_CheckExact(item)) {
            return 0;
        }
        if (PyUnicode_READY(item) < 0) {
            return -1;
        }
        if (PyUnicode_GET_LENGTH(item) > 0) {
            *present = 1;
        }
    }
    return 1;
}

/* One data element (content._SlowCheck.simple / .composite); ``value`` is its
 * list of components, or NULL when the segment ends before it. */
static int
slot_clean(const Checker *self, const slot_def *def, PyObject *value)
{
    Py_ssize_t n = 0;
    int present = 0;
    if (value != NULL) {
        if (!PyList_CheckExact(value)) {
            return 0;
        }
        int rc = components_plain(value, &present);
        if (rc <= 0) {
            return rc;
        }
        n = PyList_GET_SIZE(value);
    }
    if (!def->composite) {
        if (n > 1) {
            return 0;
        }
        return present ? value_clean(self, &def->values[0], PyList_GET_ITEM(value, 0), NULL) : !def->mandatory;
    }
    if (!present) {
        return !def->mandatory;
    }
    if (n > def->count) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < def->count; i++) {
        const value_def *component = &def->values[i];
        PyObject *text = i < n ? PyList_GET_ITEM(value, i) : NULL;
        if (text == NULL || PyUnicode_GET_LENGTH(text) == 0) {
            if (component->mandatory) {
                return 0;
            }
            continue;
        }
        PyObject *agency = component->agency >= 0 && component->agency < n ? PyList_GET_ITEM(value, component->agency)
                                                                            : NULL;
        int rc = value_clean(self, component, text, agency);
        if (rc <= 0) {
            return rc;
        }
    }
    return 1;
}

/* One segment (content._SlowCheck.run); a tag the spec does not define is clean. */
static int
segment_clean(const Checker *self, PyObject *segment)
{
    if (!Py_IS_TYPE(segment, self->segment_type)) {
        return 0;
    }
    PyObject *tag = SLOT(segment, self->off_tag), *elements = SLOT(segment, self->off_elements);
    if (tag == NULL || elements == NULL || !PyUnicode_CheckExact(tag) || !PyList_CheckExact(elements)) {
        return 0;
    }
    if (PyUnicode_READY(tag) < 0) {
        return -1;
    }
    uint64_t key = pack(tag);
    Py_ssize_t found = key != 0 ? table_find(&self->tags, key) : -1;
    if (found < 0) {
        return 1; /* not defined: skipped */
    }
    const segment_def *def = &self->segments[self->tags.indices[found]];
    Py_ssize_t n = PyList_GET_SIZE(elements);
    if (n > def->count) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < def->count; i++) {
        int rc = slot_clean(self, &def->slots[i], i < n ? PyList_GET_ITEM(elements, i) : NULL);
        if (rc <= 0) {
            return rc;
        }
    }
    return 1;
}

/* The positions found, as a new list of int. */
static PyObject *
positions_list(const Py_ssize_t *found, Py_ssize_t count)
{
    PyObject *result = PyList_New(count);
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *position = PyLong_FromSsize_t(found[i]);
        if (position == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, position);
    }
    return result;
}

static PyObject *
checker_suspects(Checker *self, PyObject *segments)
{
    PyObject *seq = PySequence_Fast(segments, "segments must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t *found = NULL, count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int rc = segment_clean(self, items[i]);
        if (rc < 0) {
            goto error;
        }
        if (rc == 0) {
            if (found == NULL && (found = PyMem_New(Py_ssize_t, n)) == NULL) {
                PyErr_NoMemory();
                goto error;
            }
            found[count++] = i + 1;
        }
    }
    Py_DECREF(seq);
    PyObject *result = positions_list(found, count);
    PyMem_Free(found);
    return result;

error:
    Py_DECREF(seq);
    PyMem_Free(found);
    return NULL;
}

static PyObject *
checker_tags(Checker *self, PyObject *segments)
{
    PyObject *seq = PySequence_Fast(segments, "segments must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    /* allocated first: filling it reads the items and runs no Python code */
    PyObject *result = PyTuple_New(PySequence_Fast_GET_SIZE(seq));
    if (result != NULL && PySequence_Fast_GET_SIZE(seq) != PyTuple_GET_SIZE(result)) {
        Py_SETREF(result, Py_NewRef(Py_None)); /* the list changed while the tuple was allocated */
    } else if (result != NULL) {
        PyObject **items = PySequence_Fast_ITEMS(seq);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(result); i++) {
            PyObject *tag = Py_IS_TYPE(items[i], self->segment_type) ? SLOT(items[i], self->off_tag) : NULL;
            if (tag == NULL || !PyUnicode_CheckExact(tag)) {
                Py_SETREF(result, Py_NewRef(Py_None)); /* the unfilled items are NULL */
                break;
            }
            PyTuple_SET_ITEM(result, i, Py_NewRef(tag));
        }
    }
    Py_DECREF(seq);
    return result;
}

static PyMethodDef checker_methods[] = {
    {"suspects", (PyCFunction)checker_suspects, METH_O,
     "suspects(segments) -> list[int]: 1-based positions of the segments whose content might be wrong."},
    {"tags", (PyCFunction)checker_tags, METH_O,
     "tags(segments) -> tuple[str, ...] | None: the segments' tags; None when one is not exactly a Segment with a str tag."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CheckerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "validators.directory._content.Checker",
    .tp_basicsize = sizeof(Checker),
    .tp_dealloc = (destructor)checker_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Checker(segment_class, spec, decimal_mark): the content check of a directory (see the module source).",
    .tp_methods = checker_methods,
    .tp_new = checker_new,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_content", "C accelerator of the directory validator's content pass.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__content(void)
{
    if (PyType_Ready(&CheckerType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Checker", (PyObject *)&CheckerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
