"""placeholder"""
def fit_orientation(*a, **k):
    raise NotImplementedError
