"""A layer of your own: ketamine at the mu-opioid receptor (the "Extending the model" example).

Whether ketamine's antidepressant effect needs the opioid system is disputed (naltrexone blocked it in
a small trial, not in a later one). This layer adds one state, the fraction of mu-opioid receptors
bound, driven by the brain effect sites the receptor layer already computes, with the receptor's own
potency (racemic ketamine pKi 4.38, Hirota 1999): one declaration of the state, one constant, one rate
and one output. The compiled kernel, the scipy path, the observer and the SBML export follow from it.
"""

from ketasim.model import Constants, Equations, State

STATES = {"mu_opioid_bound": State("1", "fraction of mu-opioid receptors bound by ketamine")}


def constants(k: Constants) -> None:
    k.vary("mu_opioid_ki", "uM")  # from the parameter set (see extend_the_model.py)
    k.set("tau_mu_opioid", 0.1, "h", "binding equilibration time (assumption: fast next to the effect site)")


def equations(eq: Equations) -> None:
    c, x = eq.c, eq.x
    ketamine = x.ce_s_ketamine + x.ce_r_ketamine  # unbound brain ketamine, µM (racemic Ki)
    bound = ketamine / (ketamine + c.mu_opioid_ki)
    eq.rate("mu_opioid_bound", (bound - x.mu_opioid_bound) / c.tau_mu_opioid)
    eq.output("mu_opioid_bound", x.mu_opioid_bound, "1", "fraction")
