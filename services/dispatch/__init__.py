"""The dispatch service (三单制): demands, dispatch, acceptance, service records, wishes, activities."""
