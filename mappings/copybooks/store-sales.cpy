      *================================================================*
      * STORE-SALES: one till line per record, as the mainframe's      *
      * nightly sales extract writes it (27 bytes, EBCDIC, packed).    *
      * Written for Stockbridge; same byte layout as a classic store-  *
      * sales extract: key code, store, date, department, quantity     *
      * sold (negative = customer return) and the extended price.      *
      *================================================================*
       01  STORE-SALE-REC.
           05  SS-ITEM-KEY.
               10  SS-KEYCODE-NO         PIC X(08).
               10  SS-STORE-NO           PIC S9(03)    COMP-3.
      *        date as CYYMMDD: C=0 for 19xx, 1 for 20xx (e.g. 0040118)
           05  SS-SALE-DATE              PIC S9(07)    COMP-3.
           05  SS-DEPT-NO                PIC S9(03)    COMP-3.
           05  SS-QTY-SOLD               PIC S9(09)    COMP-3.
           05  SS-SALE-PRICE             PIC S9(09)V99 COMP-3.
