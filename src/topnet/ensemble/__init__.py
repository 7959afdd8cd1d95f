"""Ensembles of diverse models with weights fitted on held-out (blend) data.

Members (networks, LightGBM, linear models, random forests, extra trees, k-NN, TF-IDF + linear
for text, and XGBoost or CatBoost when installed) give probabilities on the same splits; combiners
(uniform, Nelder–Mead weights, Caruana selection, stacking) are fitted on blend only and picked
by cross-fitted blend loss; ``Ensemble`` saves and loads without pickle. See docs/ensembles.md.

Example:
    >>> sorted(COMBINERS)
    ['caruana', 'stacking', 'uniform', 'weighted']
"""
from topnet.ensemble.boosted import LightGBMMember
from topnet.ensemble.catboost_member import CatBoostMember
from topnet.ensemble.combiners import (COMBINERS, CaruanaSelection, Combiner, Stacking, UniformAverage,
                                       WeightedAverage, get_combiner)
from topnet.ensemble.diversity import (DiversityTable, disagreement, diversity_table, error_correlation,
                                       plot_diversity, select_diverse, yules_q)
from topnet.ensemble.ensemble import Ensemble
from topnet.ensemble.forests import ExtraTreesMember, RandomForestMember
from topnet.ensemble.knn import KNNMember
from topnet.ensemble.linear import LinearMember
from topnet.ensemble.member_base import Member
from topnet.ensemble.members import NetworkMember, load_member
from topnet.ensemble.selection import Selection, cross_fit, fold_ids, select_combiner
from topnet.ensemble.temperature import TemperatureScaling, log_loss
from topnet.ensemble.text_linear import TfidfLinearMember
from topnet.ensemble.xgboost_member import XGBoostMember

__all__ = [
    "Ensemble",
    "Member",
    "NetworkMember",
    "LightGBMMember",
    "LinearMember",
    "RandomForestMember",
    "ExtraTreesMember",
    "KNNMember",
    "TfidfLinearMember",
    "XGBoostMember",
    "CatBoostMember",
    "load_member",
    "Combiner",
    "UniformAverage",
    "WeightedAverage",
    "CaruanaSelection",
    "Stacking",
    "COMBINERS",
    "get_combiner",
    "select_combiner",
    "Selection",
    "cross_fit",
    "fold_ids",
    "DiversityTable",
    "diversity_table",
    "disagreement",
    "error_correlation",
    "yules_q",
    "plot_diversity",
    "select_diverse",
    "TemperatureScaling",
    "log_loss",
]
