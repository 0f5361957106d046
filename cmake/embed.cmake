# Turns the file IN into a C array NAME (and NAME_len) in OUT, so a document ships inside
# the binary without a string literal's length limit. usage: cmake -DIN= -DOUT= -DNAME=
# -DHEADER= -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}.tmp" "#include \"${HEADER}\"\n\nconst unsigned char ${NAME}[] = {\n${bytes}};\n"
     "const size_t ${NAME}_len = sizeof(${NAME});\n")
file(RENAME "${OUT}.tmp" "${OUT}")
