/*
 * domain._line_builder -- optional C accelerator of domain/trusted_lines.py:
 * ``DeclarationLine`` instances built without pydantic validating them again.
 *
 * LineBuilder(model_class, decimal_type, spec)
 *     ``model_class`` is domain.declaration.DeclarationLine, ``decimal_type``
 *     decimal.Decimal, ``spec`` trusted_lines.line_spec(model): one tuple per model
 *     field, in the model's field order,
 *         (name, kind, a, b, c, required)
 *     kind 0 INT    an exact int with a <= value <= b;
 *     kind 1 TEXT   an exact str of a..b characters that pydantic's
 *                   ``strip_whitespace`` leaves as it is: its first and last
 *                   characters are printable Latin-1 other than a space
 *                   (U+0021-U+007E, U+00A1-U+00FF), and it holds no surrogate;
 *     kind 2 CHARS  an exact str of a..b characters of class c: 1 ASCII
 *                   digits, 2 A-Z, 3 A-Z and ASCII digits;
 *     kind 3 AMOUNT an exact str that is a plain number ``[0-9]+(.[0-9]+)?``
 *                   whose normalized value has at most a integer digits and b
 *                   decimal places (``checked_amounts.amount_fits``), greater
 *                   than zero when c is 1, read with ``decimal_type``; or an
 *                   exact ``decimal_type`` instance, >= 0 (> 0 when c is 1,
 *                   not a NaN), whose digits the caller checked as text (the
 *                   contract of ``checked_amounts.validate_checked``).
 *     A field not ``required`` may be missing (then None, and not in the
 *     fields set) or None.
 *
 * LineBuilder.build(fields) -> DeclarationLine | None
 *     The instance ``DeclarationLine.model_validate(fields)`` would give, when
 *     ``fields`` (an exact dict) certainly passes every check above, which
 *     pydantic would pass too; None otherwise (then pydantic must validate
 *     the dict). The instance is made as pydantic-core and ``model_construct``
 *     make one: ``__dict__`` (every field, in order), ``__pydantic_fields_set__``
 *     (the names given), ``__pydantic_extra__`` and ``__pydantic_private__``
 *     (None) set through the type's descriptors.
 *
 * LineBuilder.build_all(lines) -> int
 *     Replaces, in the list ``lines``, every dict that ``build`` turns into an
 *     instance by that instance; returns how many it replaced.
 *
 * Conservative: where pydantic might accept what these checks refuse (a
 * Unicode digit, a description that starts with a space, 17 integer digits of
 * an amount whose field allows 18 digits in all), the line is refused and
 * pydantic decides. tests/test_trusted_lines.py compares the instances with
 * ``model_validate``'s and the refusals with pydantic's verdicts.
 *
 * Safety: ``decimal_type`` and the comparisons of its instances may run Python
 * code, which could change ``fields``; every value is held by a strong
 * reference while it is checked, and the dict is read by key only.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#include "_amount_fits.h"

enum { KIND_INT = 0, KIND_TEXT = 1, KIND_CHARS = 2, KIND_AMOUNT = 3 };
enum { CLASS_DIGITS = 1, CLASS_UPPER = 2, CLASS_UPPER_DIGITS = 3 };

typedef struct {
    PyObject *name; /* exact str */
    int kind;
    long long a, b;
    int c;
    int required;
} field_spec;

#define MAX_FIELDS 64
#define SET_CACHE_SIZE 16

typedef struct {
    PyObject_HEAD
    PyTypeObject *model;
    PyObject *decimal_type;
    PyObject *zero; /* decimal_type(0), for the signs of Decimal amounts */
    field_spec *fields;
    Py_ssize_t count;
    PyObject *template; /* every field -> None, in order: copied for every instance's __dict__ */
    /* fields sets by the mask of the fields given (bit i: field i), copied for every instance */
    uint64_t set_masks[SET_CACHE_SIZE];
    PyObject *sets[SET_CACHE_SIZE];
} LineBuilder;

static PyObject *name_dict, *name_fields_set, *name_extra, *name_private, *empty_tuple;

/* Construction -------------------------------------------------------------- */

static int
read_spec(PyObject *item, field_spec *out)
{
    PyObject *name;
    long long a, b;
    int kind, c, required;
    if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UiLLip", &name, &kind, &a, &b, &c, &required)) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "spec items must be (name, kind, a, b, c, required)");
        }
        return -1;
    }
    if (!PyUnicode_CheckExact(name) || kind < KIND_INT || kind > KIND_AMOUNT || (kind != KIND_AMOUNT && a > b) ||
        (kind != KIND_INT && (a < 0 || b > PY_SSIZE_T_MAX)) ||
        (kind == KIND_CHARS && (c < CLASS_DIGITS || c > CLASS_UPPER_DIGITS)) ||
        (kind == KIND_AMOUNT && (c != 0 && c != 1))) {
        PyErr_SetString(PyExc_ValueError, "a spec item is out of range");
        return -1;
    }
    out->name = Py_NewRef(name);
    PyUnicode_InternInPlace(&out->name);
    out->kind = kind;
    out->a = a;
    out->b = b;
    out->c = c;
    out->required = required;
    return 0;
}

static void
free_fields(field_spec *fields, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_XDECREF(fields[i].name);
    }
    PyMem_Free(fields);
}

static PyObject *
LineBuilder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *model, *decimal_type, *spec;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "LineBuilder() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOO:LineBuilder", &model, &decimal_type, &spec)) {
        return NULL;
    }
    if (!PyType_Check(model) || !PyType_Check(decimal_type)) {
        PyErr_SetString(PyExc_TypeError, "model_class and decimal_type must be classes");
        return NULL;
    }
    if (((PyTypeObject *)model)->tp_new == NULL) {
        PyErr_SetString(PyExc_TypeError, "model_class cannot be instantiated");
        return NULL;
    }
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) == 0 || PyTuple_GET_SIZE(spec) > MAX_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "spec must be a tuple of 1 to 64 fields");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(spec);
    field_spec *fields = PyMem_Calloc((size_t)count, sizeof(field_spec));
    if (fields == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (read_spec(PyTuple_GET_ITEM(spec, i), &fields[i]) < 0) {
            free_fields(fields, count);
            return NULL;
        }
    }
    PyObject *template = PyDict_New();
    if (template == NULL) {
        free_fields(fields, count);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (PyDict_SetItem(template, fields[i].name, Py_None) < 0) {
            Py_DECREF(template);
            free_fields(fields, count);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(template) != count) {
        PyErr_SetString(PyExc_ValueError, "spec names a field twice");
        Py_DECREF(template);
        free_fields(fields, count);
        return NULL;
    }
    PyObject *zero = PyObject_CallFunction(decimal_type, "i", 0);
    LineBuilder *self = zero == NULL ? NULL : (LineBuilder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_XDECREF(zero);
        Py_DECREF(template);
        free_fields(fields, count);
        return NULL;
    }
    self->zero = zero;
    self->model = (PyTypeObject *)Py_NewRef(model);
    self->decimal_type = Py_NewRef(decimal_type);
    self->fields = fields;
    self->count = count;
    self->template = template;
    return (PyObject *)self;
}

static void
LineBuilder_dealloc(LineBuilder *self)
{
    Py_XDECREF(self->model);
    Py_XDECREF(self->decimal_type);
    Py_XDECREF(self->template);
    Py_XDECREF(self->zero);
    for (int i = 0; i < SET_CACHE_SIZE; i++) {
        Py_XDECREF(self->sets[i]);
    }
    if (self->fields != NULL) {
        free_fields(self->fields, self->count);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The checks ---------------------------------------------------------------- */

/* 1: certainly valid, 0: not certain, -1: error. */

static int
int_fits(const field_spec *spec, PyObject *value)
{
    if (!PyLong_CheckExact(value)) {
        return 0;
    }
    int overflow = 0;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    return !overflow && number >= spec->a && number <= spec->b;
}

static inline int
printable_latin1(Py_UCS4 ch)
{
    return (ch >= 0x21 && ch <= 0x7e) || (ch >= 0xa1 && ch <= 0xff);
}

static int
text_fits(const field_spec *spec, PyObject *value)
{
    if (!PyUnicode_CheckExact(value) || PyUnicode_READY(value) < 0) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (n < spec->a || n > spec->b || n == 0) {
        return 0;
    }
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    if (!printable_latin1(PyUnicode_READ(kind, data, 0)) || !printable_latin1(PyUnicode_READ(kind, data, n - 1))) {
        return 0;
    }
    if (kind != PyUnicode_1BYTE_KIND) { /* pydantic refuses a str it cannot encode */
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if (ch >= 0xd800 && ch <= 0xdfff) {
                return 0;
            }
        }
    }
    return 1;
}

static int
chars_fit(const field_spec *spec, PyObject *value)
{
    if (!PyUnicode_CheckExact(value) || PyUnicode_READY(value) < 0) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (n < spec->a || n > spec->b || PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 ch = data[i];
        int digit = ch >= '0' && ch <= '9', upper = ch >= 'A' && ch <= 'Z';
        if (!((spec->c != CLASS_UPPER && digit) || (spec->c != CLASS_DIGITS && upper))) {
            return 0;
        }
    }
    return 1;
}

/* A new reference to the field's value as the instance holds it, Py_None
 * (a new reference too) when not certain, NULL on error. */
static PyObject *
amount_value(LineBuilder *self, const field_spec *spec, PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        int nonzero = 0;
        if (PyUnicode_READY(value) < 0) {
            return NULL;
        }
        int fits = amount_str_fits(value, (Py_ssize_t)spec->a, (Py_ssize_t)spec->b, &nonzero);
        if (!fits || (spec->c && !nonzero)) {
            Py_RETURN_NONE;
        }
        return PyObject_CallOneArg(self->decimal_type, value);
    }
    if (Py_TYPE(value) == (PyTypeObject *)self->decimal_type) {
        int ok = PyObject_RichCompareBool(value, self->zero, spec->c ? Py_GT : Py_GE);
        if (ok < 0) { /* a NaN: comparing it signals; not a checked amount */
            if (!PyErr_ExceptionMatches(PyExc_ArithmeticError)) {
                return NULL;
            }
            PyErr_Clear();
            ok = 0;
        }
        return ok ? Py_NewRef(value) : Py_NewRef(Py_None);
    }
    Py_RETURN_NONE;
}

/* Building ------------------------------------------------------------------ */

/* A new reference to a fields set holding the names of the fields in ``mask``. */
static PyObject *
fields_set(LineBuilder *self, uint64_t mask)
{
    int slot = (int)((mask * 0x9E3779B97F4A7C15ull) >> 60) & (SET_CACHE_SIZE - 1);
    if (self->sets[slot] == NULL || self->set_masks[slot] != mask) {
        PyObject *names = PySet_New(NULL);
        if (names == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < self->count; i++) {
            if ((mask >> i & 1) && PySet_Add(names, self->fields[i].name) < 0) {
                Py_DECREF(names);
                return NULL;
            }
        }
        Py_XSETREF(self->sets[slot], names);
        self->set_masks[slot] = mask;
    }
    return PySet_New(self->sets[slot]); /* a copy: an instance may change its own */
}

/* A new reference to the instance, Py_None when not certain, NULL on error. */
static PyObject *
build_one(LineBuilder *self, PyObject *fields)
{
    if (!PyDict_CheckExact(fields)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *ignored;
    while (PyDict_Next(fields, &pos, &key, &ignored)) {
        if (!PyUnicode_CheckExact(key)) { /* pydantic takes str keys only; a key merely equal to one is not */
            Py_RETURN_NONE;
        }
    }
    PyObject *values = PyDict_Copy(self->template); /* every key, in order: set again below */
    if (values == NULL) {
        return NULL;
    }
    uint64_t given = 0;
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < self->count; i++) {
        const field_spec *spec = &self->fields[i];
        PyObject *value = PyDict_GetItemWithError(fields, spec->name); /* borrowed */
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            if (spec->required) {
                goto refuse;
            }
            continue; /* None, not given */
        }
        found++;
        given |= (uint64_t)1 << i;
        if (value == Py_None) {
            if (spec->required) {
                goto refuse;
            }
            continue;
        }
        Py_INCREF(value);
        PyObject *kept = NULL; /* a new reference: the value the instance holds */
        int ok;
        switch (spec->kind) {
        case KIND_INT:
            ok = int_fits(spec, value);
            break;
        case KIND_TEXT:
            ok = text_fits(spec, value);
            break;
        case KIND_CHARS:
            ok = chars_fit(spec, value);
            break;
        default:
            kept = amount_value(self, spec, value);
            ok = kept == NULL ? -1 : kept != Py_None;
            break;
        }
        if (ok <= 0) {
            Py_XDECREF(kept);
            Py_DECREF(value);
            if (ok < 0) {
                goto error;
            }
            goto refuse;
        }
        if (kept == NULL) {
            kept = value;
        }
        else {
            Py_DECREF(value);
        }
        int rc = PyDict_SetItem(values, spec->name, kept);
        Py_DECREF(kept);
        if (rc < 0) {
            goto error;
        }
    }
    if (found != PyDict_GET_SIZE(fields)) { /* a key that is no field: pydantic forbids it */
        goto refuse;
    }
    PyObject *names = fields_set(self, given);
    if (names == NULL) {
        goto error;
    }
    PyObject *instance = self->model->tp_new(self->model, empty_tuple, NULL);
    /* through the type's descriptors, past the frozen model's __setattr__ */
    if (instance == NULL || PyObject_GenericSetAttr(instance, name_dict, values) < 0 ||
        PyObject_GenericSetAttr(instance, name_fields_set, names) < 0 ||
        PyObject_GenericSetAttr(instance, name_extra, Py_None) < 0 ||
        PyObject_GenericSetAttr(instance, name_private, Py_None) < 0) {
        Py_XDECREF(instance);
        Py_DECREF(names);
        goto error;
    }
    Py_DECREF(names);
    Py_DECREF(values);
    return instance;

refuse:
    Py_DECREF(values);
    Py_RETURN_NONE;

error:
    Py_DECREF(values);
    return NULL;
}

static PyObject *
LineBuilder_build(LineBuilder *self, PyObject *fields)
{
    return build_one(self, fields);
}

static PyObject *
LineBuilder_build_all(LineBuilder *self, PyObject *lines)
{
    if (!PyList_Check(lines)) {
        PyErr_SetString(PyExc_TypeError, "build_all() expects a list");
        return NULL;
    }
    Py_ssize_t built = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) { /* the length is read again: Python code may run */
        PyObject *item = Py_NewRef(PyList_GET_ITEM(lines, i));
        PyObject *instance = build_one(self, item);
        Py_DECREF(item);
        if (instance == NULL) {
            return NULL;
        }
        if (instance == Py_None) {
            Py_DECREF(instance);
            continue;
        }
        if (i >= PyList_GET_SIZE(lines)) {
            Py_DECREF(instance);
            break;
        }
        if (PyList_SetItem(lines, i, instance) < 0) { /* steals ``instance`` */
            return NULL;
        }
        built++;
    }
    return PyLong_FromSsize_t(built);
}

static PyMethodDef LineBuilder_methods[] = {
    {"build", (PyCFunction)LineBuilder_build, METH_O,
     "The DeclarationLine of a dict of fields that certainly passes validation, else None."},
    {"build_all", (PyCFunction)LineBuilder_build_all, METH_O,
     "Replace the dicts of a list that build() turns into instances; returns how many."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LineBuilder_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "domain._line_builder.LineBuilder",
    .tp_basicsize = sizeof(LineBuilder),
    .tp_dealloc = (destructor)LineBuilder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Builds DeclarationLine instances from dicts that certainly pass validation (see the module source).",
    .tp_methods = LineBuilder_methods,
    .tp_new = LineBuilder_new,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_line_builder", "DeclarationLine instances built without validating them again.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__line_builder(void)
{
    if (name_dict == NULL) {
        name_dict = PyUnicode_InternFromString("__dict__");
        name_fields_set = PyUnicode_InternFromString("__pydantic_fields_set__");
        name_extra = PyUnicode_InternFromString("__pydantic_extra__");
        name_private = PyUnicode_InternFromString("__pydantic_private__");
        empty_tuple = PyTuple_New(0);
        if (name_dict == NULL || name_fields_set == NULL || name_extra == NULL || name_private == NULL ||
            empty_tuple == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&LineBuilder_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "LineBuilder", (PyObject *)&LineBuilder_Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
