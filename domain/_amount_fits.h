/*
 * ``domain.checked_amounts.amount_fits`` in C, for the extensions that read
 * line amounts as text (mappings/_cusdec_lines.c, mappings/_cadxml_tree.c,
 * domain/_line_builder.c): whether c[0:n] is [0-9]+(.[0-9]+)? with at most
 * ``whole`` digits before the dot once its leading zeros are dropped, and at
 * most ``places`` after it once its trailing zeros are dropped (pydantic counts
 * the digits of the normalized value). ``*nonzero`` (when not NULL) tells
 * whether any digit is not 0. tests/test_checked_amounts.py holds
 * ``amount_fits`` to pydantic's verdict; the extensions' tests hold each of
 * them to ``amount_fits``.
 */
#ifndef CARM_AMOUNT_FITS_H
#define CARM_AMOUNT_FITS_H

#include <Python.h>

static inline int
amount_text_fits(const Py_UCS1 *c, Py_ssize_t n, Py_ssize_t whole, Py_ssize_t places, int *nonzero)
{
    Py_ssize_t i = 0;
    while (i < n && c[i] == '0') {
        i++;
    }
    Py_ssize_t significant = i; /* the first digit that counts, if any */
    while (i < n && c[i] >= '0' && c[i] <= '9') {
        i++;
    }
    if (i == 0 || i - significant > whole) {
        return 0;
    }
    int any = i > significant;
    if (i < n) {
        if (c[i++] != '.') {
            return 0;
        }
        Py_ssize_t first = i, end = i; /* end: after the last decimal that is not 0 */
        for (; i < n && c[i] >= '0' && c[i] <= '9'; i++) {
            if (c[i] != '0') {
                end = i + 1;
            }
        }
        if (i != n || i == first || end - first > places) {
            return 0;
        }
        any |= end > first;
    }
    if (nonzero != NULL) {
        *nonzero = any;
    }
    return 1;
}

/* The same for a ready str: 0 for one of wider characters (not a plain number). */
static inline int
amount_str_fits(PyObject *text, Py_ssize_t whole, Py_ssize_t places, int *nonzero)
{
    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    return amount_text_fits(PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), whole, places, nonzero);
}

#endif
