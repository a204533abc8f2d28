module tricolor/compare

go 1.19
