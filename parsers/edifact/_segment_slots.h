/*
 * The __slots__ offsets of parsers.edifact.model.Segment, for the C extensions
 * that read its slots (or, in the tokenizer, write them) without attribute
 * look-ups: parsers/edifact/_tokenizer.c and validators/directory/_content.c
 * include this file after <Python.h>.
 */
#ifndef CARM_SEGMENT_SLOTS_H
#define CARM_SEGMENT_SLOTS_H

#include <structmember.h>

/* The offset of ``type``'s own writable object slot ``name``; -1 with a TypeError otherwise. */
static inline int
segment_slot_offset(PyTypeObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name); /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a __slots__ member", type->tp_name, name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (((PyDescrObject *)descr)->d_type != type || member == NULL || member->type != T_OBJECT_EX ||
        (member->flags & READONLY) || member->offset < (Py_ssize_t)sizeof(PyObject) ||
        member->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a plain object slot", type->tp_name, name);
        return -1;
    }
    *out = member->offset;
    return 0;
}

/* Record in ``*type_out`` a new reference to ``cls``, the Segment class, and the
 * offsets of its ``tag`` and ``elements`` slots; -1 with a TypeError when it is
 * not such a class (nothing is recorded then). */
static inline int
segment_tag_and_elements(PyObject *cls, PyTypeObject **type_out, Py_ssize_t *off_tag, Py_ssize_t *off_elements)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "segment_class must be the Segment class");
        return -1;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    if (type->tp_dict == NULL) {
        PyErr_SetString(PyExc_TypeError, "segment_class is not ready");
        return -1;
    }
    Py_ssize_t tag, elements;
    if (segment_slot_offset(type, "tag", &tag) < 0 || segment_slot_offset(type, "elements", &elements) < 0) {
        return -1;
    }
    *off_tag = tag;
    *off_elements = elements;
    *type_out = (PyTypeObject *)Py_NewRef(cls);
    return 0;
}

#endif
