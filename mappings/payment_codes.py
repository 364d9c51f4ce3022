"""Finding codes of the group checks every payment channel makes (pain.001
``NbOfTxs``/``CtrlSum``, PAYMUL ``CNT+2`` and the LIN total ``MOA+9``)."""

COUNT_MISMATCH = "PAY-NB"  # the declared number of payments differs from the payments (pain.002 AM18)
CONTROL_SUM_MISMATCH = "PAY-CTL"  # a declared total differs from the sum of the amounts (pain.002 AM10)
